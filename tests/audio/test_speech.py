"""A text is read aloud by a real offline voice and stored like an upload; a voice that is not there is said so."""

import stat

import pytest

import audio
from audio.speech import synthesis_timeout

TEXT = "Lúc 17h30 ngày 02/12, UBND phường Thới Hòa họp dân."


def test_espeak_reads_a_text_into_a_stored_broadcast_mp3(lab, media_dir, isolated_tmp):
    clip = audio.speak(TEXT, audio.Espeak(), audio.Speed.NORMAL, media_dir)
    assert clip.path == media_dir / f"{clip.sha256}.mp3"
    assert lab.stream(clip.path)["codec_name"] == "mp3"
    assert 2_000 < clip.duration_ms < 20_000
    assert abs(lab.ebur128(clip.path).lufs - -16.0) <= 1.0
    assert list(isolated_tmp.iterdir()) == []  # the WAV went with its temporary directory


def test_a_slower_speed_reads_longer(media_dir):
    slow, fast = (audio.speak(TEXT, audio.Espeak(), speed, media_dir) for speed in (audio.Speed.SLOW,
                                                                                    audio.Speed.FAST))
    assert slow.duration_ms > fast.duration_ms * 1.2


def test_the_southern_voice_can_be_chosen(media_dir):
    north, south = (audio.speak(TEXT, audio.Espeak(voice), audio.Speed.NORMAL, media_dir)
                    for voice in ("vi", "vi-vn-x-south"))
    assert north.sha256 != south.sha256


@pytest.fixture
def fake_piper(tmp_path, lab):
    """A stand-in `piper` that records its arguments and what it was fed, and answers with a real recording."""
    script = tmp_path / "piper"
    script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/argv\ncat > {tmp_path}/stdin\n'
                      f'while [ "$1" != "--output_file" ]; do shift; done\ncp {lab.speech()} "$2"\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    model = tmp_path / "vi_VN-voice.onnx"
    model.write_bytes(b"onnx")
    return script, model


def test_a_piper_voice_is_given_the_model_the_speed_and_the_words(fake_piper, media_dir, tmp_path):
    script, model = fake_piper
    clip = audio.speak(TEXT, audio.Piper(model, command=str(script)), audio.Speed.SLOW, media_dir)
    argv = (tmp_path / "argv").read_text().split()
    assert argv[argv.index("--model") + 1] == str(model) and argv[argv.index("--length_scale") + 1] == "1.25"
    assert (tmp_path / "stdin").read_text(encoding="utf-8") == audio.read_aloud(TEXT)
    assert clip.path.is_file()


def test_a_missing_piper_model_is_refused_with_what_to_do(fake_piper, media_dir, tmp_path):
    script, _model = fake_piper
    with pytest.raises(audio.VoiceMissingError, match="does not exist.*system administrator"):
        audio.speak(TEXT, audio.Piper(tmp_path / "gone.onnx", command=str(script)), audio.Speed.NORMAL, media_dir)
    assert list(media_dir.iterdir()) == []


def test_a_missing_program_is_refused_with_what_to_do(media_dir, tmp_path):
    model = tmp_path / "voice.onnx"
    model.write_bytes(b"onnx")
    with pytest.raises(audio.VoiceMissingError, match="'piper-not-installed' is not installed"):
        audio.speak(TEXT, audio.Piper(model, command="piper-not-installed"), audio.Speed.NORMAL, media_dir)


def test_a_voice_that_fails_is_a_processing_error(tmp_path, media_dir):
    failing = tmp_path / "espeak-broken"
    failing.write_text("#!/bin/sh\necho 'voice data missing' >&2\nexit 1\n")
    failing.chmod(0o755)
    with pytest.raises(audio.ProcessingError, match="voice data missing"):
        audio.speak(TEXT, audio.Espeak(command=str(failing)), audio.Speed.NORMAL, media_dir)


def test_a_hung_voice_is_stopped_at_its_deadline(tmp_path, media_dir, monkeypatch):
    hung = tmp_path / "espeak-hung"
    hung.write_text("#!/bin/sh\nexec sleep 60\n")
    hung.chmod(0o755)
    monkeypatch.setattr("audio.speech.synthesis_timeout", lambda words: 0.5)
    with pytest.raises(audio.ProcessingError, match="did not finish"):
        audio.speak(TEXT, audio.Espeak(command=str(hung)), audio.Speed.NORMAL, media_dir)


def test_the_deadline_grows_with_the_text():
    assert synthesis_timeout("a" * 3000) > synthesis_timeout("a") >= 30
