"""Fixtures of the web tests that upload audio."""

import pytest

from tests.support.audio_corpus import Corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Corpus:
    """Broken, lying and extreme audio files, each made once a session when first asked for."""
    return Corpus(tmp_path_factory.mktemp("audio-corpus"))
