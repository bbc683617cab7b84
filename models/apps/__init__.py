"""Application models: domains (messaging, ride dispatch, streaming, feeds, ...) written with the
behaviour API of `behaviour.py`, each in its own module, registered as component types."""
from . import behaviour  # noqa: F401
from . import uber  # noqa: F401
from . import whatsapp  # noqa: F401
from . import saga  # noqa: F401
from . import cqrs  # noqa: F401
from . import netflix  # noqa: F401  (video streaming: players, ABR, CDN edges)
from . import instagram  # noqa: F401
from . import sizing  # noqa: F401
