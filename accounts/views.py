from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts.forms import SignUpForm
from accounts.lockout import throttled_page
from accounts.selectors import api_token_get
from accounts.services import api_token_regenerate, user_sign_up
from accounts.throttles import Throttled, password_reset_limits, sign_up_limits, throttle_hit


@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = "/"
    if request.method == "POST":
        try:
            throttle_hit(
                limits=sign_up_limits(
                    request, username=request.POST.get("username", ""), email=request.POST.get("email", "")
                )
            )
        except Throttled as refusal:
            return throttled_page(request, refusal, action="sign-up")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = user_sign_up(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}. Your account is ready.")
        return redirect(next_url)
    return render(request, "accounts/sign_up.html", {"form": form, "next": next_url})


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request: HttpRequest) -> HttpResponse:
    token = api_token_get(user=request.user)
    if request.method == "POST":
        token = api_token_regenerate(user=request.user)
        messages.success(request, "A new API token was created. The previous one no longer works.")
        return redirect("accounts:api-token")
    return render(request, "accounts/api_token.html", {"token": token, "api_url": request.build_absolute_uri("/")})


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, throttled per client address and per e-mail address (each one sends mail)."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            throttle_hit(limits=password_reset_limits(request, email=request.POST.get("email", "")))
        except Throttled as refusal:
            return throttled_page(request, refusal, action="password reset")
        return super().post(request, *args, **kwargs)
