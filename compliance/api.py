"""REST endpoints for legal documents (API.md "Compliance")."""


from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.cookies import keep_visitor, visitor_of
from compliance.models import Complaint, PrivacyRequest
from compliance.selectors import complaints_of, cookie_consent_of, current_documents, documents_for, marketing_consent_of, privacy_requests_of
from compliance.services import accept_documents, export_data, receive_complaint, receive_privacy_request, set_cookie_consent, set_marketing_consent
from core.pagination import CursorPagination


class LegalDocumentOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    version = serializers.CharField()
    title = serializers.CharField()
    published_at = serializers.DateTimeField()
    accepted = serializers.BooleanField()


class LegalDocumentListOutput(serializers.Serializer):
    results = LegalDocumentOutput(many=True)
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)


class LegalDocumentsApi(APIView):
    @extend_schema(operation_id="legal_documents", responses=LegalDocumentListOutput)
    def get(self, request):
        """The versions in force, and whether the caller accepted each (CMP-1). Never more than one page."""
        return Response(LegalDocumentListOutput({"results": documents_for(client=request.user), "next": None, "previous": None}).data)


class LegalAcceptApi(APIView):
    class AcceptInput(serializers.Serializer):
        documents = serializers.ListField(child=serializers.IntegerField(), min_length=1, max_length=20)

        def validate_documents(self, ids):
            current = {d.pk: d for d in current_documents()}
            unknown = [i for i in ids if i not in current]
            if unknown:
                raise serializers.ValidationError(f"Not a document in force: {', '.join(map(str, unknown))}.")
            return [current[i] for i in ids]

    @extend_schema(operation_id="legal_accept", request=AcceptInput, responses=LegalDocumentListOutput)
    def post(self, request):
        """Accept versions in force; kept with the time and the IP (CMP-1)."""
        data = self.AcceptInput(data=request.data)
        data.is_valid(raise_exception=True)
        accept_documents(client=request.user, documents=data.validated_data["documents"])
        return Response(LegalDocumentListOutput({"results": documents_for(client=request.user), "next": None, "previous": None}).data)


class ComplaintOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    received_at = serializers.DateTimeField()
    due_at = serializers.DateField(help_text="30 working days after receipt (CMP-4).")


class ComplaintListApi(generics.GenericAPIView):
    pagination_class = CursorPagination
    queryset = Complaint.objects.none()

    class ComplaintInput(serializers.Serializer):
        identification = serializers.CharField(max_length=2000, help_text="Who complains, and how to reach them.")
        description = serializers.CharField(max_length=10000, help_text="What right was violated, and how.")
        period_start = serializers.DateField()
        period_end = serializers.DateField()
        project = serializers.IntegerField(required=False, allow_null=True, min_value=1, help_text="The project complained about.")
        kind = serializers.ChoiceField(choices=["spam", "privacy", "other"], required=False, default="other")

    @extend_schema(operation_id="complaints_list", responses=ComplaintOutput(many=True))
    def get(self, request):
        """The caller's complaints, newest first."""
        page = self.paginate_queryset(complaints_of(client=request.user))
        return self.get_paginated_response(ComplaintOutput(page, many=True).data)

    @extend_schema(operation_id="complaints_create", request=ComplaintInput, responses={201: ComplaintOutput})
    def post(self, request):
        """Complain (CMP-4): who, what right and which period are required; due in 30 working days."""
        data = self.ComplaintInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        complaint = receive_complaint(complainant=request.user, project_id=fields.pop("project", None), **fields)
        return Response(ComplaintOutput(complaint).data, status=status.HTTP_201_CREATED)


class PrivacyRequestOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    received_at = serializers.DateTimeField()
    due_at = serializers.DateField(help_text="One month after receipt; staff may extend it by up to two more (GDPR Art. 12(3)).")


class PrivacyRequestListApi(generics.GenericAPIView):
    pagination_class = CursorPagination
    queryset = PrivacyRequest.objects.none()

    class PrivacyRequestInput(serializers.Serializer):
        kind = serializers.ChoiceField(choices=["access", "rectification", "erasure", "restriction", "objection", "portability"])
        details = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")

    @extend_schema(operation_id="privacy_requests_list", responses=PrivacyRequestOutput(many=True))
    def get(self, request):
        """The caller's requests, newest first."""
        page = self.paginate_queryset(privacy_requests_of(client=request.user))
        return self.get_paginated_response(PrivacyRequestOutput(page, many=True).data)

    @extend_schema(operation_id="privacy_requests_create", request=PrivacyRequestInput, responses={201: PrivacyRequestOutput})
    def post(self, request):
        """A data subject request about the caller (CMP-2)."""
        data = self.PrivacyRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        privacy_request = receive_privacy_request(client=request.user, **data.validated_data)
        return Response(PrivacyRequestOutput(privacy_request).data, status=status.HTTP_201_CREATED)


class PrivacyExportApi(APIView):
    @extend_schema(operation_id="privacy_export", responses={200: dict})
    def get(self, request):
        """Everything every app holds on the caller, as one JSON document (CMP-2)."""
        response = Response(export_data(client=request.user))
        response["Content-Disposition"] = 'attachment; filename="my-data.json"'
        return response


class MarketingConsentApi(APIView):
    class MarketingInput(serializers.Serializer):
        given = serializers.BooleanField()

    class MarketingOutput(serializers.Serializer):
        given = serializers.BooleanField()
        at = serializers.DateTimeField(allow_null=True)

    @extend_schema(operation_id="consent_marketing", responses=MarketingOutput)
    def get(self, request):
        """Marketing consent (CMP-3), apart from the service; none until given."""
        current = marketing_consent_of(client=request.user)
        return Response(self.MarketingOutput({"given": bool(current and current.given), "at": current.at if current else None}).data)

    @extend_schema(operation_id="consent_marketing_set", request=MarketingInput, responses=MarketingOutput)
    def put(self, request):
        """Give or withdraw it at any time; each change is kept with its time."""
        data = self.MarketingInput(data=request.data)
        data.is_valid(raise_exception=True)
        consent = set_marketing_consent(client=request.user, given=data.validated_data["given"])
        return Response(self.MarketingOutput({"given": consent.given, "at": consent.at}).data)




class CookieConsentApi(APIView):
    """Cookie consent by category (CMP-8): for anyone, signed in or not. A visitor's answer is kept
    under a random id in its own cookie (a cookie that is not one of ours gets a new id); a signed-in
    client's, by session or key, on its account."""
    authentication_classes = APIView.authentication_classes
    permission_classes: list = []

    class CookieInput(serializers.Serializer):
        preference = serializers.BooleanField()
        analytics = serializers.BooleanField()
        marketing = serializers.BooleanField()

    class CookieOutput(serializers.Serializer):
        essential = serializers.BooleanField(default=True)
        preference = serializers.BooleanField()
        analytics = serializers.BooleanField()
        marketing = serializers.BooleanField()

    def _answer(self, visitor: str | None, consent) -> Response:
        body = {"essential": True, "preference": bool(consent and consent.preference), "analytics": bool(consent and consent.analytics),
                "marketing": bool(consent and consent.marketing)}
        response = Response(self.CookieOutput(body).data)
        keep_visitor(response, visitor)
        return response

    @extend_schema(operation_id="consent_cookies", responses=CookieOutput)
    def get(self, request):
        visitor = visitor_of(request)
        return self._answer(visitor, cookie_consent_of(visitor=visitor, client=request.user))

    @extend_schema(operation_id="consent_cookies_set", request=CookieInput, responses=CookieOutput)
    def put(self, request):
        data = self.CookieInput(data=request.data)
        data.is_valid(raise_exception=True)
        visitor = visitor_of(request)
        return self._answer(visitor, set_cookie_consent(visitor=visitor, client=request.user, **data.validated_data))
