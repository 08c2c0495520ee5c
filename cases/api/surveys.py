"""The reintegration survey over the API: a case's filled surveys with their scores (and
recording one), and the questions a caller's programmes ask, with their texts in the request's
language (``Accept-Language``; English where a text has no translation)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from cases import selectors
from cases.models import (
    Case,
    MonitoringContact,
    SurveyAnswer,
    SurveyDimension,
    SurveyQuestion,
    SurveyResponse,
)
from cases.services.surveys import localised, survey_record

from .serializers import StrictMixin
from .views import CaseRecordViewSet, NoStoreMixin, OneValueQueryMixin, staff

SCORE: dict[str, Any] = {
    "max_digits": 5,
    "decimal_places": 2,
    "coerce_to_string": False,
    "read_only": True,
    "min_value": 0,
    "max_value": 100,
    "help_text": "From 0 to 100.",
}


class SurveyAnswerSerializer(StrictMixin, serializers.ModelSerializer[SurveyAnswer]):
    question = serializers.CharField(source="question.code", read_only=True)
    score = serializers.DecimalField(
        max_digits=4,
        decimal_places=3,
        coerce_to_string=False,
        read_only=True,
        min_value=0,
        max_value=1,
        help_text="From 0 (worst) to 1 (best).",
    )

    class Meta:
        model = SurveyAnswer
        fields = ["question", "value", "score"]
        read_only_fields = fields


class SurveySerializer(StrictMixin, serializers.ModelSerializer[SurveyResponse]):
    contact = serializers.UUIDField(source="contact.uuid", read_only=True, allow_null=True)
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True)
    economic_score = serializers.DecimalField(allow_null=True, **SCORE)
    social_score = serializers.DecimalField(allow_null=True, **SCORE)
    psychosocial_score = serializers.DecimalField(allow_null=True, **SCORE)
    overall_score = serializers.DecimalField(**SCORE)
    answers = SurveyAnswerSerializer(many=True, read_only=True)

    class Meta:
        model = SurveyResponse
        fields = [
            "uuid",
            "taken_on",
            "contact",
            "economic_score",
            "social_score",
            "psychosocial_score",
            "overall_score",
            "answers",
            "recorded_by",
            "created_at",
        ]
        read_only_fields = fields


class SurveyInputSerializer(StrictMixin, serializers.Serializer[Any]):
    taken_on = serializers.DateField()
    contact = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="The monitoring contact (held, without a survey yet) it was taken at.",
    )
    answers = serializers.DictField(
        child=serializers.CharField(max_length=64),
        help_text="Question code → the chosen value, for every active question.",
    )


class SurveyViewSet(CaseRecordViewSet):
    """Reintegration surveys of a case in the caller's scope, with their scores (0 to 100)."""

    model = SurveyResponse
    serializer_class = SurveySerializer

    def scoped(self, queryset: models.QuerySet[Any], case: Case) -> models.QuerySet[Any]:
        return (
            queryset.filter(case=case)
            .select_related("contact", "recorded_by")
            .prefetch_related(
                models.Prefetch(
                    "answers", SurveyAnswer.objects.select_related("question").order_by("id")
                )
            )
        )

    @extend_schema(request=SurveyInputSerializer, responses={201: SurveySerializer})
    def create(self, request: Request, case_number: str) -> Response:
        data = SurveyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        case = self.get_case()
        contact = None
        if values.get("contact"):
            contacts = MonitoringContact.objects.visible_to(request.user)
            contact = contacts.filter(case=case, uuid=values["contact"]).first()
            if contact is None:
                raise ValidationError({"contact": "No such contact on this case."})
        response = survey_record(
            actor=staff(request),
            case=case,
            contact=contact,
            taken_on=values["taken_on"],
            answers=dict(values["answers"]),
        )
        visible = SurveyResponse.objects.visible_to(request.user)
        created = self.scoped(visible, case).get(pk=response.pk)
        return Response(self.get_serializer(created).data, status=201)


# "label" would shadow Field.label as a class attribute; declare it inline.
SurveyChoiceSerializer = inline_serializer(
    name="SurveyChoice",
    fields={
        "value": serializers.CharField(),
        "score": serializers.FloatField(help_text="From 0 (worst) to 1 (best)."),
        "label": serializers.CharField(help_text="In the request's language, or English."),
        "labels": serializers.DictField(child=serializers.CharField(), help_text="Per language."),
    },
)


class SurveyQuestionSerializer(StrictMixin, serializers.ModelSerializer[SurveyQuestion]):
    programme = serializers.UUIDField(source="programme.uuid", read_only=True, allow_null=True)
    text = serializers.SerializerMethodField(help_text="In the request's language, or English.")
    texts = serializers.DictField(
        child=serializers.CharField(), read_only=True, help_text="The wording per language."
    )
    choices = serializers.SerializerMethodField()
    weight = serializers.DecimalField(
        max_digits=4, decimal_places=2, coerce_to_string=False, read_only=True
    )

    class Meta:
        model = SurveyQuestion
        fields = [
            "uuid",
            "programme",
            "code",
            "dimension",
            "text",
            "texts",
            "choices",
            "weight",
            "order",
        ]
        read_only_fields = fields

    def get_text(self, question: SurveyQuestion) -> str:
        return localised(question.texts)

    @extend_schema_field(serializers.ListField(child=SurveyChoiceSerializer))
    def get_choices(self, question: SurveyQuestion) -> list[dict[str, Any]]:
        return [
            {
                "value": choice.get("value", ""),
                "score": float(choice.get("score", 0)),
                "label": localised(choice.get("labels")),
                "labels": choice.get("labels") or {},
            }
            for choice in question.choices
            if isinstance(choice, dict)
        ]


class SurveyQuestionViewSet(
    OneValueQueryMixin, NoStoreMixin, mixins.ListModelMixin, viewsets.GenericViewSet[Any]
):
    """Active survey questions: the shared ones and those of the caller's programmes (a
    programme's question replaces a shared one with the same code in that programme). The
    whole list in one answer, in the order they are asked: a client needs all of them to
    show the survey."""

    serializer_class = SurveyQuestionSerializer
    pagination_class = None
    filter_backends: list[Any] = []

    def get_queryset(self) -> models.QuerySet[SurveyQuestion]:
        if getattr(self, "swagger_fake_view", False):
            return SurveyQuestion.objects.none()
        dimension_rank = models.Case(
            *(
                models.When(dimension=dimension, then=models.Value(rank))
                for rank, dimension in enumerate(SurveyDimension.values)
            ),
            default=models.Value(len(SurveyDimension.values)),
            output_field=models.IntegerField(),
        )
        return (
            selectors.survey_question_list(user=self.request.user)
            .annotate(dimension_rank=dimension_rank)
            .order_by("dimension_rank", "order", "code", "id")
        )
