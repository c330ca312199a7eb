"""What the audit log records: one action per kind of security-relevant change or attempt."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """An audit entry's action, `<area>.<what happened>`; README "Security" lists them."""

    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    OTP_REQUESTED = "auth.otp_requested"
    EMAIL_VERIFIED = "auth.email_verified"
    REFRESH_TOKEN_REUSED = "auth.refresh_token_reused"
    LOGOUT_ALL = "auth.logout_all"
    PASSWORD_CHANGED = "auth.password_changed"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    BROKER_CONNECTED = "broker.connected"
    BROKER_RENEWED = "broker.renewed"
    BROKER_DISCONNECTED = "broker.disconnected"
    ORDER_CANCEL = "order.cancel"
    ORDERS_CANCEL_ALL = "orders.cancel_all"
    ACCOUNT_HALTED = "account.halted"
    ACCOUNT_HALT_LIFTED = "account.halt_lifted"
    CASH_ADJUSTED = "admin.cash_adjusted"
    DISPATCH_PAUSED = "admin.dispatch_paused"
    DISPATCH_RESUMED = "admin.dispatch_resumed"
    ROLE_CHANGED = "admin.role_changed"
    NEWS_POSTED = "admin.news_posted"
