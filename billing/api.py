"""REST endpoints for billing (API.md "Billing"). Reachable by blocked and suspended clients, so
that they can pay (ACC-3, DUN-3). Each view translates and calls one service."""

from django.conf import settings
from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import idempotency, selectors, services
from billing.models import Card, Invoice, LedgerEntry, Period
from billing.pdf import invoice_pdf
from core.pagination import CursorPagination


class BillingErrorOutput(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class CardOutput(serializers.ModelSerializer):
    class Meta:
        model = Card
        fields = ["brand", "last4", "exp_month", "exp_year"]


class SummaryOutput(serializers.Serializer):
    tariff = serializers.ChoiceField(choices=["free", "pro"])
    period = serializers.ChoiceField(choices=Period.choices, allow_null=True)
    packages = serializers.IntegerField()
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True)
    ends_after = serializers.DateField(allow_null=True, help_text="Set when PRO ends after this day (DEA-3).")
    balance_cents = serializers.IntegerField()
    debt_cents = serializers.IntegerField()
    active_subscribers = serializers.IntegerField()
    card = CardOutput(allow_null=True)
    backup_card = CardOutput(allow_null=True)
    pending_period = serializers.ChoiceField(choices=Period.choices, allow_null=True)


def _summary(request, code: int = status.HTTP_200_OK) -> Response:
    request.user.refresh_from_db(fields=["tariff", "tariff_since"])
    return Response(SummaryOutput(selectors.summary(client=request.user)).data, status=code)


class PricesApi(APIView):
    class PricesOutput(serializers.Serializer):
        package_cents = serializers.DictField(child=serializers.IntegerField(), help_text="One package for one whole period, discount applied.")
        setup_fee_cents = serializers.IntegerField()

    @extend_schema(operation_id="billing_prices", responses=PricesOutput)
    def get(self, request):
        policy = services.current_policy()
        body = {"package_cents": {p: policy.package_cents(p) for p in Period.values}, "setup_fee_cents": policy.setup_fee_cents}
        return Response(self.PricesOutput(body).data)


class SummaryApi(APIView):
    @extend_schema(operation_id="billing_summary", responses=SummaryOutput)
    def get(self, request):
        """Tariff, period, packages, wallet and card."""
        return _summary(request)


class DeletionTermsApi(APIView):
    class DeletionTermsOutput(serializers.Serializer):
        pro_active = serializers.BooleanField()
        period_end = serializers.DateField(allow_null=True)
        wallet_balance_cents = serializers.IntegerField(help_text="Not refunded when the account is deleted (WAL-3).")
        refunded_cents = serializers.IntegerField(help_text="Always 0.")
        debt_cents = serializers.IntegerField(help_text="Charged to the card first (DEA-5).")
        cards = serializers.IntegerField(help_text="Saved cards, detached at the payment provider.")
        consequences = serializers.ListField(child=serializers.CharField(), help_text="What deleting the account means, in sentences.")

    @extend_schema(operation_id="billing_deletion_terms", responses=DeletionTermsOutput)
    def get(self, request):
        """What `DELETE /api/v1/me/` would do to the account's money (DEA-5), to show before the client confirms."""
        return Response(self.DeletionTermsOutput(selectors.deletion_terms(client=request.user)).data)


class CardInput(serializers.Serializer):
    token = serializers.CharField(max_length=200, help_text="From the payment form; in the sandbox e.g. `tok_visa`.")


class CardApi(APIView):
    role = Card.Role.MAIN

    @extend_schema(operation_id="billing_card_put", request=CardInput, responses={200: CardOutput, 409: BillingErrorOutput})
    def put(self, request):
        """Add or replace the card; it is verified with $1 that goes to the wallet (WAL-4)."""
        data = CardInput(data=request.data)
        data.is_valid(raise_exception=True)
        card = services.attach_card(client=request.user, token=data.validated_data["token"], role=self.role, actor=request.user)
        return Response(CardOutput(card).data)

    @extend_schema(operation_id="billing_card_delete", responses={204: None, 409: BillingErrorOutput})
    def delete(self, request):
        """Remove the card: only with at most $1 owed and PRO deactivated (CARD-2)."""
        services.remove_card(client=request.user, role=self.role, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BackupCardApi(CardApi):
    role = Card.Role.BACKUP

    @extend_schema(operation_id="billing_backup_card_put", request=CardInput, responses={200: CardOutput, 409: BillingErrorOutput})
    def put(self, request):
        """Add or replace the backup card, tried when the main card fails (CARD-4)."""
        return super().put(request)

    @extend_schema(operation_id="billing_backup_card_delete", responses={204: None, 409: BillingErrorOutput})
    def delete(self, request):
        return super().delete(request)


class UpcomingApi(APIView):
    class RenewalOutput(serializers.Serializer):
        at = serializers.DateTimeField()
        packages = serializers.IntegerField()
        amount_cents = serializers.IntegerField()
        wallet_cents = serializers.IntegerField()
        card_cents = serializers.IntegerField()

    class TonightOutput(serializers.Serializer):
        packages_change = serializers.IntegerField()
        amount_cents = serializers.IntegerField(help_text="A charge when positive, a credit when negative.")
        wallet_cents = serializers.IntegerField()
        card_cents = serializers.IntegerField()
        description = serializers.CharField()

    class UpcomingOutput(serializers.Serializer):
        renewal = serializers.SerializerMethodField()
        tonight = serializers.SerializerMethodField()

        def get_renewal(self, obj) -> dict | None:
            return UpcomingApi.RenewalOutput(obj["renewal"]).data if obj["renewal"] else None

        def get_tonight(self, obj) -> dict | None:
            return UpcomingApi.TonightOutput(obj["tonight"]).data if obj["tonight"] else None

    @extend_schema(operation_id="billing_upcoming", responses=UpcomingOutput)
    def get(self, request):
        """What tonight and the next renewal will charge, wallet and card apart (WAL-7)."""
        return Response(self.UpcomingOutput(selectors.upcoming(client=request.user)).data)


class PeriodInput(serializers.Serializer):
    period = serializers.ChoiceField(choices=Period.choices)


class ActivateApi(APIView):
    @extend_schema(operation_id="billing_activate", request=PeriodInput, responses={200: SummaryOutput, 409: BillingErrorOutput})
    def post(self, request):
        """Activate PRO (PER-2): verified email and card; wallet first, card for the rest."""
        data = PeriodInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.activate_pro(client=request.user, period=data.validated_data["period"], actor=request.user)
        return _summary(request)


class DeactivateApi(APIView):
    class DeactivateInput(serializers.Serializer):
        confirm = serializers.BooleanField(help_text="Must be true: projects are archived and deleted after the retention window.")

    @extend_schema(operation_id="billing_deactivate", request=DeactivateInput, responses={200: SummaryOutput, 409: BillingErrorOutput})
    def post(self, request):
        """Return to Free (DEA-1..3)."""
        data = self.DeactivateInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.deactivate_pro(client=request.user, confirm=data.validated_data["confirm"], actor=request.user)
        return _summary(request)


class PeriodApi(APIView):
    @extend_schema(
        operation_id="billing_period", request=PeriodInput,
        responses={200: SummaryOutput, 202: OpenApiResponse(SummaryOutput, description="A shorter period waits for staff (PER-5)"), 409: BillingErrorOutput},
    )
    def post(self, request):
        """A longer period at once (PER-4); a shorter one after staff approve it (PER-5)."""
        data = PeriodInput(data=request.data)
        data.is_valid(raise_exception=True)
        _, pending = services.change_period(client=request.user, period=data.validated_data["period"], actor=request.user)
        return _summary(request, status.HTTP_202_ACCEPTED if pending else status.HTTP_200_OK)


class TopUpApi(APIView):
    class TopUpInput(serializers.Serializer):
        amount_cents = serializers.IntegerField(min_value=services.TOP_UP_MIN_CENTS, max_value=services.TOP_UP_MAX_CENTS)

    @extend_schema(
        operation_id="billing_topup", request=TopUpInput,
        responses={200: SummaryOutput, 400: OpenApiResponse(description="Bad amount or Idempotency-Key"), 409: BillingErrorOutput,
                   503: OpenApiResponse(BillingErrorOutput, description="No answer from the payment provider: retry with the Idempotency-Key answered")},
        parameters=[OpenApiParameter(
            idempotency.HEADER, str, OpenApiParameter.HEADER, required=False,
            description="Up to 255 characters, bound to the amount: the same key charges once and answers as the first time; "
                        "with another amount it is refused (409). Without one the server makes one and answers it in this header.",
        )],
    )
    def post(self, request):
        """Top up the wallet from the card (WAL-5)."""
        data = self.TopUpInput(data=request.data)
        data.is_valid(raise_exception=True)
        key = request.headers.get(idempotency.HEADER)
        done = services.top_up(client=request.user, amount_cents=data.validated_data["amount_cents"], idempotency_key=key, actor=request.user)
        response = _summary(request)
        response[idempotency.HEADER] = done.idempotency_key
        return response


class LedgerEntryOutput(serializers.ModelSerializer):
    class Meta:
        model = LedgerEntry
        fields = ["id", "amount_cents", "kind", "description", "created_at"]


class LedgerApi(generics.GenericAPIView):
    pagination_class = CursorPagination
    queryset = LedgerEntry.objects.none()

    @extend_schema(operation_id="billing_ledger", responses=LedgerEntryOutput(many=True))
    def get(self, request):
        """The wallet's entries, newest first; credits positive, debits negative (WAL-1)."""
        page = self.paginate_queryset(selectors.ledger_of(client=request.user))
        return self.get_paginated_response(LedgerEntryOutput(page, many=True).data)


class InvoiceLineOutput(serializers.Serializer):
    description = serializers.CharField()
    amount_cents = serializers.IntegerField()


class InvoiceOutput(serializers.ModelSerializer):
    lines = InvoiceLineOutput(many=True)
    pdf = serializers.SerializerMethodField()
    corrects = serializers.SlugRelatedField(slug_field="number", read_only=True, help_text="The invoice a credit note corrects.")
    late_fee_for = serializers.SlugRelatedField(slug_field="number", read_only=True, help_text="The overdue invoice a late fee is for.")

    class Meta:
        model = Invoice
        fields = ["number", "kind", "issued_at", "due_at", "total_cents", "status", "paid_at", "corrects", "late_fee_for", "lines", "pdf"]

    def get_pdf(self, invoice) -> str:
        return f"/api/v1/billing/invoices/{invoice.number}/pdf/"


class InvoiceListApi(generics.GenericAPIView):
    pagination_class = CursorPagination
    queryset = Invoice.objects.none()

    @extend_schema(operation_id="billing_invoices", responses=InvoiceOutput(many=True))
    def get(self, request):
        """Invoices and credit notes (WAL-6), newest first."""
        page = self.paginate_queryset(selectors.invoices_of(client=request.user))
        return self.get_paginated_response(InvoiceOutput(page, many=True).data)


class InvoicePdfApi(APIView):
    @extend_schema(operation_id="billing_invoice_pdf", responses={(200, "application/pdf"): OpenApiResponse(description="The PDF")})
    def get(self, request, number: str):
        invoice = selectors.invoices_of(client=request.user).filter(number=number).first()
        if invoice is None:
            raise Http404
        response = HttpResponse(invoice_pdf(invoice, operator=settings.SITE_NAME), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
        return response
