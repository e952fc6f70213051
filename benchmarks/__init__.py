"""Benchmarks for x2sve (issue 6): ``python -m benchmarks [--smoke] [--json FILE|-]``.

Sections (each a module here): translation throughput next to iced-x86's raw decode rate
(``throughput``), code quality and the per-form comparison with Fujitsu's published expansion
(``quality``), an A64FX cycle estimate (``a64fx``), verification throughput (``verifybench``) and
peak memory (``memory``). ``runner`` puts them together; see README.md.
"""
