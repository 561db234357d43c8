"""A pytest plugin for the mutation runs (scripts/mutation.py loads it with `-p`).

cosmic-ray's ExceptionReplacer turns `except KeyError:` into `except
CosmicRayTestingException:`, a class cosmic-ray defines (cosmic_ray/exceptions.py) but
never makes visible to the mutated module. Evaluating the clause then raises NameError,
which the driver reads as an import error, so a mutant the tests do catch is set apart
instead of counted. With the class in builtins the mutant means what the operator intends:
the clause no longer catches what it used to, and the exception goes on up.
"""

from __future__ import annotations

import builtins

from cosmic_ray.exceptions import CosmicRayTestingException

builtins.CosmicRayTestingException = CosmicRayTestingException  # type: ignore[attr-defined]
