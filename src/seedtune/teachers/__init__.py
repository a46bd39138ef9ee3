"""Teachers: anything that turns chat requests into completions (local model, HTTP endpoint, script).

The protocol is deliberately small — `generate(requests) -> completions` — so caching, rate
limits and batching live inside implementations or in the `CachedTeacher` wrapper, not in callers.
`parse` reads a teacher string once and `open_teacher` builds it, in every stage (`from_string`
is the older name); `register` adds a kind that then works everywhere. Heavy backends import lazily.
"""

from seedtune.teachers.base import Completion, Request, ScriptedTeacher, Teacher
from seedtune.teachers.registry import TeacherSpec, from_string, open_teacher, parse, register

__all__ = ["Completion", "Request", "ScriptedTeacher", "Teacher", "TeacherSpec", "from_string", "open_teacher",
           "parse", "register"]
