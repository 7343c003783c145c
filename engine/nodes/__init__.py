"""Node types. Importing this package registers every family's `@register` classes."""

import engine.nodes.arrays  # noqa: F401
import engine.nodes.context  # noqa: F401
import engine.nodes.control  # noqa: F401
import engine.nodes.data  # noqa: F401
import engine.nodes.flow  # noqa: F401
import engine.nodes.http  # noqa: F401
import engine.nodes.inputs  # noqa: F401
import engine.nodes.iteration  # noqa: F401
import engine.nodes.loops  # noqa: F401
import engine.nodes.math  # noqa: F401
import engine.nodes.pacing  # noqa: F401
import engine.nodes.resilience  # noqa: F401
import engine.nodes.run_cache  # noqa: F401
import engine.nodes.schema  # noqa: F401
import engine.nodes.state  # noqa: F401
import engine.nodes.text  # noqa: F401
