"""REST endpoints for accounts (API.md "Accounts"). Each view translates and calls one service."""

from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.models import ApiKey, Client, Restriction
from core.pagination import CursorPagination
from core.throttling import PerIpThrottle


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class RegisterApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [PerIpThrottle]
    throttle_scope = "register"

    class RegisterInput(serializers.Serializer):
        name = serializers.CharField(max_length=150)
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})
        accept_terms = serializers.BooleanField(help_text="Must be true: the current Terms of Use and Privacy Policy.")
        age_confirmed = serializers.BooleanField(help_text="Must be true: the person is 16 or older.")

    class RegisterOutput(serializers.Serializer):
        id = serializers.IntegerField()
        email = serializers.EmailField()
        name = serializers.CharField()

    @extend_schema(
        operation_id="auth_register",
        request=RegisterInput,
        responses={201: RegisterOutput, 400: OpenApiResponse(description="Invalid input, field by field"),
                   409: OpenApiResponse(ErrorSerializer, description="`legal_documents_missing`: the Terms and Privacy Policy are not published yet")},
        auth=[],
    )
    def post(self, request):
        """Open an account (ACC-1). Mails a link that verifies the address."""
        data = self.RegisterInput(data=request.data)
        data.is_valid(raise_exception=True)
        client = services.register_client(**data.validated_data, language=request.LANGUAGE_CODE)
        services.send_email_verification(request=request._request, client=client)
        return Response(self.RegisterOutput(client).data, status=status.HTTP_201_CREATED)


class TokenApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [PerIpThrottle]
    throttle_scope = "token"

    class TokenInput(serializers.Serializer):
        email = serializers.EmailField()
        password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})
        otp = serializers.CharField(required=False, allow_blank=True, help_text="The TOTP or a recovery code, when 2FA is on.")

    class TokenOutput(serializers.Serializer):
        token = serializers.CharField(help_text="A new API key named `token`; send it as `Authorization: Bearer <token>`.")

    @extend_schema(
        operation_id="auth_token",
        request=TokenInput,
        responses={200: TokenOutput, 401: ErrorSerializer, 429: ErrorSerializer},
        auth=[],
    )
    def post(self, request):
        """Sign in with email and password (and a code with 2FA on) for an API key (ACC-2, ACC-5)."""
        data = self.TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        _, secret = services.issue_token(request=request._request, **data.validated_data)
        return Response(self.TokenOutput({"token": secret}).data)


class RestrictionOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Restriction.Kind.choices, help_text="`block`, or the billing `suspension` (DUN-2).")
    reason = serializers.ChoiceField(choices=Client.BlockReason.choices)
    since = serializers.DateTimeField(source="starts_at")
    until = serializers.DateTimeField(source="ends_at", allow_null=True, help_text="Empty: until lifted (a block for good).")


class MeApi(APIView):
    class MeOutput(serializers.Serializer):
        id = serializers.IntegerField()
        email = serializers.EmailField()
        name = serializers.CharField()
        email_verified = serializers.BooleanField()
        status = serializers.ChoiceField(choices=Client.Status.choices, source="state.status")
        block_reason = serializers.ChoiceField(choices=Client.BlockReason.choices, source="state.block_reason", allow_null=True,
                                               help_text="The block that ends last (ACC-3); every one is in `restrictions`.")
        blocked_until = serializers.DateTimeField(source="state.blocked_until", allow_null=True)
        tariff = serializers.ChoiceField(choices=Client.Tariff.choices)
        restrictions = RestrictionOutput(many=True, source="restrictions_now", help_text="Every restriction that holds, the one that ends last first (ACC-3).")
        language = serializers.CharField(help_text="The client's language for the dashboard and emails (`en`, `uk`); empty: the browser's.")

        def to_representation(self, client):
            data = super().to_representation(client)
            data["block_reason"] = data["block_reason"] or None
            return data

    class MeDeleteInput(serializers.Serializer):
        password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})

    class MeChangeInput(serializers.Serializer):
        language = serializers.ChoiceField(choices=settings.LANGUAGES, help_text="The language of the dashboard and of the emails (NTF-1).")

    @extend_schema(operation_id="me_retrieve", responses=MeOutput)
    def get(self, request):
        """The signed-in client's account, its state and every restriction that holds (ACC-3)."""
        client = request.user
        client.state, client.restrictions_now = selectors.current_state(client)
        return Response(self.MeOutput(client).data)

    @extend_schema(operation_id="me_partial_update", request=MeChangeInput, responses=MeOutput)
    def patch(self, request):
        """Choose the language of the dashboard and of the emails (NTF-1)."""
        data = self.MeChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.set_language(client=request.user, language=data.validated_data["language"])
        return self.get(request)

    @extend_schema(operation_id="me_delete", request=MeDeleteInput, responses={204: None, 400: OpenApiResponse(description="Wrong password")})
    def delete(self, request):
        """Delete the account (DEA-5); the password confirms it. PRO ends at once, the wallet's
        balance is **not refunded** (WAL-3), any debt is charged to the card first, the cards are
        detached at the payment provider. `GET /api/v1/billing/deletion/` says what that means for
        this account, in figures, before the client confirms."""
        data = self.MeDeleteInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.delete_account(client=request.user, password=data.validated_data["password"], actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyOutput(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "rate_limit_per_minute", "created_at", "last_used_at"]


class ApiKeyListApi(generics.GenericAPIView):
    serializer_class = ApiKeyOutput
    pagination_class = CursorPagination

    queryset = ApiKey.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        return selectors.live_api_keys(client=self.request.user)

    class ApiKeyCreateInput(serializers.Serializer):
        name = serializers.CharField(max_length=100)

    class ApiKeyCreatedOutput(ApiKeyOutput):
        key = serializers.SerializerMethodField(help_text="The full key. Shown this once: only a hash is kept.")

        class Meta(ApiKeyOutput.Meta):
            fields = [*ApiKeyOutput.Meta.fields, "key"]

        def get_key(self, api_key) -> str:
            return self.context["secret"]

    @extend_schema(operation_id="api_keys_list", responses=ApiKeyOutput(many=True))
    def get(self, request):
        """The client's live API keys, newest first; never their secrets."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ApiKeyOutput(page, many=True).data)

    @extend_schema(operation_id="api_keys_create", request=ApiKeyCreateInput, responses={201: ApiKeyCreatedOutput})
    def post(self, request):
        """Make a named key (ACC-5). The answer holds the secret `key`, which is never shown again."""
        data = self.ApiKeyCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        api_key, secret = services.create_api_key(client=request.user, name=data.validated_data["name"], actor=request.user)
        return Response(self.ApiKeyCreatedOutput(api_key, context={"secret": secret}).data, status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(APIView):
    @extend_schema(operation_id="api_keys_revoke", request=None, responses={204: None, 404: ErrorSerializer})
    def delete(self, request, id: int):  # noqa: A002 (the path's name in API.md)
        """Revoke a key: from the next request on it answers 401."""
        try:
            api_key = selectors.live_api_key(client=request.user, pk=id)
        except ApiKey.DoesNotExist:
            raise Http404 from None
        services.revoke_api_key(api_key=api_key, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccessRecoveryApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [PerIpThrottle]
    throttle_scope = "recovery"

    class AccessRecoveryInput(serializers.Serializer):
        account_email = serializers.EmailField()
        contact_email = serializers.EmailField()
        proof = serializers.CharField(max_length=5000)

    class AccessRecoveryOutput(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()
        created_at = serializers.DateTimeField()

    @extend_schema(operation_id="auth_access_recovery", request=AccessRecoveryInput, responses={202: AccessRecoveryOutput}, auth=[])
    def post(self, request):
        """Ask staff to restore access without the password (ACC-4)."""
        data = self.AccessRecoveryInput(data=request.data)
        data.is_valid(raise_exception=True)
        recovery = services.request_access_recovery(**data.validated_data)
        return Response(self.AccessRecoveryOutput(recovery).data, status=status.HTTP_202_ACCEPTED)

