"""The simulators' state in the admin (demo and tests only): what the simulated PSP and platform hold,
and the faults a demo operator arms to watch the back office cope with a refusal or a timeout."""

from __future__ import annotations

from django.contrib import admin

from sim import models


@admin.register(models.SimPspPayment)
class SimPspPaymentAdmin(admin.ModelAdmin):
    list_display = ["payment_id", "order_reference", "amount", "currency", "cardholder", "status", "created_at"]
    search_fields = ["payment_id", "order_reference", "cardholder"]


@admin.register(models.SimPspPayout)
class SimPspPayoutAdmin(admin.ModelAdmin):
    list_display = ["payout_id", "amount", "currency", "destination", "status", "created_at"]
    search_fields = ["payout_id", "idempotency_key"]


@admin.register(models.SimPspRefund)
class SimPspRefundAdmin(admin.ModelAdmin):
    list_display = ["refund_id", "payment", "amount", "currency", "created_at"]


@admin.register(models.SimPlatformAccount)
class SimPlatformAccountAdmin(admin.ModelAdmin):
    list_display = ["login", "name", "group", "leverage", "currency", "balance", "trading_enabled", "close_only"]
    search_fields = ["login", "name"]


@admin.register(models.SimPlatformDeal)
class SimPlatformDealAdmin(admin.ModelAdmin):
    list_display = ["ticket", "account", "symbol", "side", "lots", "closed_at", "spread", "commission", "profit"]
    list_filter = ["symbol"]
    search_fields = ["account__login"]
    raw_id_fields = ["account"]


@admin.register(models.SimPlatformSymbol)
class SimPlatformSymbolAdmin(admin.ModelAdmin):
    """The platform's symbols and the prices it quotes: a demo operator moves a price (and its time) here."""

    list_display = ["symbol", "description", "contract_size", "base", "quote", "bid", "ask", "quoted_at"]


@admin.register(models.SimPspFault, models.SimPlatformFault)
class FaultAdmin(admin.ModelAdmin):
    list_display = ["operation", "mode", "remaining"]


@admin.register(models.SimCrmContact)
class SimCrmContactAdmin(admin.ModelAdmin):
    list_display = ["crm_id", "external_id", "sales_stage", "updated_at"]
    search_fields = ["crm_id", "external_id"]


@admin.register(models.SimCrmNotification)
class SimCrmNotificationAdmin(admin.ModelAdmin):
    list_display = ["event_id", "contact", "attempts", "last_status", "delivered_at"]


@admin.register(models.SimCrmFault)
class SimCrmFaultAdmin(admin.ModelAdmin):
    list_display = ["operation", "remaining"]


@admin.register(models.SimIdvCheck)
class SimIdvCheckAdmin(admin.ModelAdmin):
    list_display = ["check_id", "reference", "created_at"]
    search_fields = ["check_id", "reference"]


@admin.register(models.SimIdvNotification)
class SimIdvNotificationAdmin(admin.ModelAdmin):
    list_display = ["event_id", "idv_check", "attempts", "last_status", "delivered_at"]


@admin.register(models.SimIdvFault)
class SimIdvFaultAdmin(admin.ModelAdmin):
    list_display = ["mode", "remaining"]
