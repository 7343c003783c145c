"""The API fixtures (users, token clients) for the security tests."""

from tests.api.conftest import (  # noqa: F401  (fixtures)
    _fresh_throttle_counts,
    api,
    other_user,
    staff_user,
    user,
)
