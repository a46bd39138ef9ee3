"""Teachers: anything that turns chat requests into completions (local model, HTTP endpoint, script).

The protocol is deliberately small — `generate(requests) -> completions` — so caching, rate
limits and batching live inside implementations or in the `CachedTeacher` wrapper, not in callers.
`from_string("hf:NAME" | "openai:MODEL" | "vllm:NAME")` builds one; heavy backends import lazily.
"""

from seedtune.teachers.base import Completion, Request, ScriptedTeacher, Teacher
from seedtune.teachers.registry import from_string, register

__all__ = ["Completion", "Request", "ScriptedTeacher", "Teacher", "from_string", "register"]
