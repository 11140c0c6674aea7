"""Tooling around the feature codecs: measurements, reports and payload fuzzing.

Not part of the codec library (``splitinfer.codecs`` is pure bytes-in/bytes-out); these
modules read datasets and models to get real feature tensors, time codecs, and mutate
payloads. ``splitinfer codecs bench`` and ``benchmarks/codecs_bench.py`` call
:func:`report.run_benchmark`.

- :mod:`.features`: feature tensors from trained models at their cut points;
- :mod:`.bench`: bytes, distortion and encode/decode time of codec specs;
- :mod:`.entropy`: how close ``ans`` gets to the symbols' empirical entropy;
- :mod:`.fuzz`: payload mutations that must decode or fail with a typed error;
- :mod:`.report`: all of the above as one report.
"""
