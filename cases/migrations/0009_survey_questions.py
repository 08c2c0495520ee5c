"""The default reintegration survey, shared by every programme: fifteen questions across the
economic, social and psychosocial dimensions, modelled on IOM's Reintegration Sustainability
Survey (Samuel Hall / IOM, "Setting standards for an integrated approach to reintegration",
2017). Each choice scores 0 (worst) to 1 (best); texts and labels are in English and Arabic.
Programme managers edit them in the admin, or add their own (a programme's question replaces a
shared one with the same code).

Reversing removes the shared questions no survey has answered yet; answered ones stay, since
recorded surveys point at them."""

from django.db import migrations


def _choices(*rows):
    return [
        {"value": value, "score": score, "labels": {"en": en, "ar": ar}}
        for value, score, en, ar in rows
    ]


QUESTIONS = [
    # --- economic ------------------------------------------------------------------------
    {
        "code": "econ_income_source",
        "dimension": "economic",
        "order": 10,
        "texts": {
            "en": "What is the person's main source of income now?",
            "ar": "ما هو مصدر الدخل الرئيسي للشخص حالياً؟",
        },
        "choices": _choices(
            ("regular_work", 1, "Regular paid work or own business", "عمل منتظم بأجر أو مشروع خاص"),
            ("irregular_work", 0.6, "Irregular, daily or seasonal work", "عمل غير منتظم أو يومي أو موسمي"),
            ("assistance", 0.3, "Help from family, the programme or charity", "مساعدة من العائلة أو البرنامج أو جهة خيرية"),
            ("none", 0, "No income", "لا يوجد دخل"),
        ),
    },
    {
        "code": "econ_income_sufficiency",
        "dimension": "economic",
        "order": 20,
        "texts": {
            "en": "How well does the household's income cover its basic needs?",
            "ar": "إلى أي مدى يغطي دخل الأسرة احتياجاتها الأساسية؟",
        },
        "choices": _choices(
            ("fully", 1, "Fully", "بالكامل"),
            ("mostly", 0.67, "Mostly", "في الغالب"),
            ("partly", 0.33, "Only partly", "بشكل جزئي فقط"),
            ("not_at_all", 0, "Not at all", "لا يغطيها إطلاقاً"),
        ),
    },
    {
        "code": "econ_debt",
        "dimension": "economic",
        "order": 30,
        "texts": {
            "en": "How heavy is the household's debt?",
            "ar": "ما مدى ثقل ديون الأسرة؟",
        },
        "choices": _choices(
            ("none", 1, "No debt", "لا توجد ديون"),
            ("manageable", 0.67, "Debt the household can repay", "ديون تستطيع الأسرة سدادها"),
            ("heavy", 0.33, "Debt that is hard to repay", "ديون يصعب سدادها"),
            ("unpayable", 0, "Debt the household cannot repay", "ديون لا تستطيع الأسرة سدادها"),
        ),
    },
    {
        "code": "econ_credit",
        "dimension": "economic",
        "order": 40,
        "texts": {
            "en": "If needed, could the person borrow money (from a bank, a lender, family or friends)?",
            "ar": "عند الحاجة، هل يستطيع الشخص اقتراض المال (من مصرف أو مُقرض أو من العائلة أو الأصدقاء)؟",
        },
        "choices": _choices(
            ("easily", 1, "Yes, easily", "نعم، بسهولة"),
            ("with_difficulty", 0.5, "Yes, with difficulty", "نعم، بصعوبة"),
            ("no", 0, "No", "لا"),
        ),
    },
    {
        "code": "econ_food",
        "dimension": "economic",
        "order": 50,
        "texts": {
            "en": "In the last month, how often did the household eat less or skip meals for lack of food or money?",
            "ar": "خلال الشهر الماضي، كم مرة اضطرت الأسرة إلى تقليل الطعام أو تفويت وجبات بسبب نقص الطعام أو المال؟",
        },
        "choices": _choices(
            ("never", 1, "Never", "أبداً"),
            ("rarely", 0.67, "Once or twice", "مرة أو مرتين"),
            ("often", 0.33, "Several times", "عدة مرات"),
            ("every_week", 0, "Every week or more", "كل أسبوع أو أكثر"),
        ),
    },
    # --- social --------------------------------------------------------------------------
    {
        "code": "soc_housing",
        "dimension": "social",
        "order": 10,
        "texts": {
            "en": "How would you describe the person's housing?",
            "ar": "كيف تصف سكن الشخص؟",
        },
        "choices": _choices(
            ("secure", 1, "Adequate and secure", "ملائم ومستقر"),
            ("insecure", 0.6, "Adequate, but they may have to leave it", "ملائم، لكن قد يضطر إلى تركه"),
            ("poor", 0.3, "Overcrowded or in poor condition", "مكتظ أو في حالة سيئة"),
            ("none", 0, "No stable housing (camp, shelter, none)", "لا يوجد سكن مستقر (مخيم أو مأوى مؤقت أو بلا مأوى)"),
        ),
    },
    {
        "code": "soc_services",
        "dimension": "social",
        "order": 20,
        "texts": {
            "en": "Can the person use the public services they need (water, electricity, courts, social services)?",
            "ar": "هل يستطيع الشخص الحصول على الخدمات العامة التي يحتاجها (الماء والكهرباء والمحاكم والخدمات الاجتماعية)؟",
        },
        "choices": _choices(
            ("all", 1, "Yes, all of them", "نعم، جميعها"),
            ("some", 0.5, "Some of them", "بعضها"),
            ("none", 0, "None of them", "لا شيء منها"),
        ),
    },
    {
        "code": "soc_documents",
        "dimension": "social",
        "order": 30,
        "texts": {
            "en": "Does the person have the identity and civil documents they need?",
            "ar": "هل يملك الشخص وثائق الهوية والوثائق المدنية التي يحتاجها؟",
        },
        "choices": _choices(
            ("all", 1, "Yes, all of them", "نعم، جميعها"),
            ("some", 0.5, "Some, or they are being issued", "بعضها، أو قيد الإصدار"),
            ("none", 0, "None", "لا يملك أياً منها"),
        ),
    },
    {
        "code": "soc_education",
        "dimension": "social",
        "order": 40,
        "texts": {
            "en": "Can the household's children go to school, and the adults to the courses they need?",
            "ar": "هل يستطيع أطفال الأسرة الذهاب إلى المدرسة، والبالغون الالتحاق بالدورات التي يحتاجونها؟",
        },
        "choices": _choices(
            ("yes", 1, "Yes", "نعم"),
            ("partly", 0.5, "Partly", "جزئياً"),
            ("no", 0, "No", "لا"),
        ),
    },
    {
        "code": "soc_health_care",
        "dimension": "social",
        "order": 50,
        "texts": {
            "en": "Can the person get health care when they need it?",
            "ar": "هل يستطيع الشخص الحصول على الرعاية الصحية عند الحاجة؟",
        },
        "choices": _choices(
            ("yes", 1, "Yes", "نعم"),
            ("with_difficulty", 0.5, "With difficulty (cost, distance, refusal)", "بصعوبة (التكلفة أو المسافة أو الرفض)"),
            ("no", 0, "No", "لا"),
        ),
    },
    # --- psychosocial --------------------------------------------------------------------
    {
        "code": "psy_participation",
        "dimension": "psychosocial",
        "order": 10,
        "texts": {
            "en": "How often does the person take part in community life (gatherings, religious or social occasions)?",
            "ar": "كم مرة يشارك الشخص في حياة المجتمع (التجمعات والمناسبات الدينية أو الاجتماعية)؟",
        },
        "choices": _choices(
            ("often", 1, "Often", "كثيراً"),
            ("sometimes", 0.67, "Sometimes", "أحياناً"),
            ("rarely", 0.33, "Rarely", "نادراً"),
            ("never", 0, "Never", "أبداً"),
        ),
    },
    {
        "code": "psy_discrimination",
        "dimension": "psychosocial",
        "order": 20,
        "texts": {
            "en": "Does the person feel discriminated against or rejected in their community?",
            "ar": "هل يشعر الشخص بالتمييز أو الرفض في مجتمعه؟",
        },
        "choices": _choices(
            ("never", 1, "Never", "أبداً"),
            ("sometimes", 0.5, "Sometimes", "أحياناً"),
            ("often", 0, "Often", "كثيراً"),
        ),
    },
    {
        "code": "psy_safety",
        "dimension": "psychosocial",
        "order": 30,
        "texts": {
            "en": "Does the person feel physically safe where they live?",
            "ar": "هل يشعر الشخص بالأمان الجسدي في مكان سكنه؟",
        },
        "choices": _choices(
            ("always", 1, "Always", "دائماً"),
            ("mostly", 0.67, "Most of the time", "معظم الوقت"),
            ("rarely", 0.33, "Rarely", "نادراً"),
            ("never", 0, "Never", "أبداً"),
        ),
    },
    {
        "code": "psy_support_network",
        "dimension": "psychosocial",
        "order": 40,
        "texts": {
            "en": "Does the person have people (family, friends, neighbours) they can turn to for support?",
            "ar": "هل لدى الشخص أناس (عائلة أو أصدقاء أو جيران) يلجأ إليهم طلباً للدعم؟",
        },
        "choices": _choices(
            ("several", 1, "Yes, several", "نعم، عدة أشخاص"),
            ("one", 0.6, "One person", "شخص واحد"),
            ("no_one", 0, "No one", "لا أحد"),
        ),
    },
    {
        "code": "psy_wish_to_leave",
        "dimension": "psychosocial",
        "order": 50,
        "texts": {
            "en": "Does the person feel they must leave their community again?",
            "ar": "هل يشعر الشخص بأنه مضطر إلى مغادرة مجتمعه مرة أخرى؟",
        },
        "choices": _choices(
            ("no", 1, "No, they want to stay", "لا، يريد البقاء"),
            ("considering", 0.5, "They are thinking about it", "يفكر في ذلك"),
            ("planning", 0, "Yes, they plan to leave", "نعم، يخطط للمغادرة"),
        ),
    },
]


def install(apps, schema_editor):
    SurveyQuestion = apps.get_model("cases", "SurveyQuestion")
    for row in QUESTIONS:
        if not SurveyQuestion.objects.filter(programme=None, code=row["code"]).exists():
            SurveyQuestion.objects.create(programme=None, weight=1, is_active=True, **row)


def remove(apps, schema_editor):
    SurveyQuestion = apps.get_model("cases", "SurveyQuestion")
    SurveyAnswer = apps.get_model("cases", "SurveyAnswer")
    answered = SurveyAnswer.objects.values("question_id")
    SurveyQuestion.objects.filter(
        programme=None, code__in=[row["code"] for row in QUESTIONS]
    ).exclude(id__in=answered).delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0008_monitoring")]

    operations = [migrations.RunPython(install, remove)]
