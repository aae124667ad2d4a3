"""Project-wide middleware."""

from django.utils.cache import add_never_cache_headers


class NoStoreForLoggedInMiddleware:
    """`Cache-Control: no-store` on every response to a logged-in user.

    Pages behind the login show health data; no browser cache, shared computer or
    proxy may keep a copy (the back button after logging out must not show the plan).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response
