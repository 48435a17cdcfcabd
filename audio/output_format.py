"""Fix what every stored announcement is: mono MP3, 44.1 kHz, 64 kbit/s, −16 LUFS, ≤ −1 dBTP."""

SAMPLE_RATE = 44_100
BITRATE = "64k"
TARGET_LUFS = -16.0
MAX_TRUE_PEAK_DBTP = -1.0
# Well inside the ±1 LU contract, so another BS.1770 meter (rounding, resampling) still agrees.
LOUDNESS_TOLERANCE_LU = 0.3
# BS.1770's absolute gate: anything quieter counts as no signal at all.
SILENCE_GATE_LUFS = -70.0
