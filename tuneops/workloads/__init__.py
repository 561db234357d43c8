"""Workload files read once, checked with file:line problems, as pure functions.

`sharegpt` reads a ShareGPT-format conversation file and turns it into the prompts a load
generator sends; `trace` reads a request trace (JSONL of timestamp, input and output
tokens). Neither knows genai-bench: the closed-loop runner (runner/bench/command.py) and an
open-loop generator each take what they can honour from the same values.
"""

from tuneops.workloads.problems import Problem
from tuneops.workloads.sharegpt import Conversation, prompts, read_sharegpt
from tuneops.workloads.trace import TraceRow, mean_rate, read_trace, span_s

__all__ = ["Conversation", "Problem", "TraceRow", "mean_rate", "prompts", "read_sharegpt",
           "read_trace", "span_s"]
