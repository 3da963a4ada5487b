"""What the simulated users of bench/load.py say, in each of the six languages.

Written as people write to the service center's assistant in each language (not
translated word for word from the English): short questions with a follow-up, the
linking of a chat to one's records, a complaint abandoned half-way, and a request for a
person. Four kinds of conversation:

- ``policy``: two or three questions on one subject (extending a visa, emergency
  numbers, registering one's accommodation, the foreign merchant card, the service
  center, a lost passport), sometimes a thank-you;
- ``link``: ``/link``, the card number, the date of birth (written as people of that
  language write dates), then when their visa (or residence permit) expires;
- ``complaint``: asking to file a complaint, answering who it is against and sometimes
  the other party's name (actions/tickets.py asks these first), then ``/cancel``;
- ``handoff``: asking for a person, one message for staff (no reply is expected: the
  assistant stays silent while a person has the chat), then ``/bot``.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

LANGUAGES = ("en", "zh", "ar", "ru", "fr", "es")
# What a browser of each language sends (web chat) and a Telegram client's language_code.
ACCEPT_LANGUAGE = {
    "en": "en-US,en;q=0.9",
    "zh": "zh-CN,zh;q=0.9",
    "ar": "ar-EG,ar;q=0.9",
    "ru": "ru-RU,ru;q=0.9",
    "fr": "fr-FR,fr;q=0.9",
    "es": "es-ES,es;q=0.9",
}
# Share of new users per kind of conversation: mostly policy questions.
FLOW_WEIGHTS = {"policy": 0.6, "link": 0.2, "complaint": 0.1, "handoff": 0.1}


@dataclass(frozen=True)
class Line:
    """One message of a conversation; ``expects_reply`` is False for a message that goes
    to staff (the assistant does not answer it)."""

    text: str
    expects_reply: bool = True


@dataclass(frozen=True)
class Resident:
    """A resident of the imported registry: what a user types to link their chat."""

    card_number: str
    date_of_birth: dt.date


POLICY: dict[str, list[list[str]]] = {
    "en": [
        [
            "Hi, my visa runs out in two weeks. Can I extend it here in Yiwu?",
            "What documents do I need to bring for the extension?",
            "Thanks!",
        ],
        ["What number do I call for an ambulance?", "And for the police?"],
        [
            "I just moved into a new flat near Futian market. Do I have to register with "
            "the police?",
            "How many days do I have to do it?",
            "ok thank you",
        ],
        [
            "How can I get the foreign merchant card?",
            "Can I use the merchant card to take the bus?",
        ],
        [
            "Where is the service center and when is it open?",
            "I lost my passport yesterday, what should I do?",
        ],
    ],
    "zh": [
        [
            "你好，我的签证还有两个星期就到期了，在义乌能办延期吗？",
            "办延期要带哪些材料？",
            "好的，谢谢",
        ],
        ["叫救护车打哪个电话？", "那报警呢？"],
        [
            "我刚搬到福田市场旁边的新房子，要去派出所做住宿登记吗？",
            "几天之内要办好？",
            "明白了，谢谢",
        ],
        ["外商卡怎么申请？", "外商卡能刷公交车吗？"],
        ["服务中心在哪儿？几点上班？", "我的护照昨天丢了，该怎么办？"],
    ],
    "ar": [
        [
            "السلام عليكم، تأشيرتي تنتهي بعد أسبوعين، هل يمكنني تمديدها هنا في ييوو؟",
            "ما هي الأوراق المطلوبة للتمديد؟",
            "شكراً جزيلاً",
        ],
        ["ما رقم الإسعاف في الصين؟", "ورقم الشرطة؟"],
        [
            "انتقلت إلى شقة جديدة قرب سوق فوتيان، هل يجب أن أسجل سكني لدى الشرطة؟",
            "خلال كم يوم يجب أن أسجل؟",
            "تمام، شكراً",
        ],
        ["كيف أحصل على بطاقة التاجر الأجنبي؟", "هل أستطيع ركوب الحافلة ببطاقة التاجر؟"],
        ["أين يقع مركز الخدمة وما هي ساعات العمل؟", "أضعت جواز سفري أمس، ماذا أفعل؟"],
    ],
    "ru": [
        [
            "Здравствуйте! У меня виза заканчивается через две недели. Можно продлить её "
            "здесь, в Иу?",
            "Какие документы нужны для продления?",
            "Спасибо!",
        ],
        ["По какому номеру вызывать скорую?", "А полицию?"],
        [
            "Я переехал в новую квартиру возле рынка Футянь. Нужно ли встать на учёт в полиции?",
            "За сколько дней надо успеть?",
            "Понял, спасибо",
        ],
        [
            "Как оформить карту иностранного торговца?",
            "По карте торговца можно ездить на автобусе?",
        ],
        [
            "Где находится сервисный центр и до скольки он работает?",
            "Вчера потерял паспорт, что мне делать?",
        ],
    ],
    "fr": [
        [
            "Bonjour, mon visa expire dans deux semaines. Est-ce que je peux le prolonger "
            "ici à Yiwu ?",
            "Quels papiers faut-il apporter pour la prolongation ?",
            "Merci beaucoup",
        ],
        ["Quel numéro appeler pour une ambulance ?", "Et pour la police ?"],
        [
            "Je viens d'emménager dans un appartement près du marché Futian. Est-ce que je "
            "dois me déclarer à la police ?",
            "J'ai combien de jours pour le faire ?",
            "D'accord, merci",
        ],
        [
            "Comment obtenir la carte de commerçant étranger ?",
            "Est-ce qu'on peut prendre le bus avec cette carte ?",
        ],
        [
            "Où se trouve le centre de services et quels sont les horaires ?",
            "J'ai perdu mon passeport hier, qu'est-ce que je dois faire ?",
        ],
    ],
    "es": [
        [
            "Hola, mi visa vence en dos semanas. ¿Puedo prorrogarla aquí en Yiwu?",
            "¿Qué papeles tengo que llevar para la prórroga?",
            "¡Muchas gracias!",
        ],
        ["¿A qué número llamo para pedir una ambulancia?", "¿Y a la policía?"],
        [
            "Me acabo de mudar a un piso cerca del mercado Futian. ¿Tengo que registrarme "
            "en la comisaría?",
            "¿Cuántos días tengo para hacerlo?",
            "Vale, gracias",
        ],
        [
            "¿Cómo consigo la tarjeta de comerciante extranjero?",
            "¿Puedo usar la tarjeta de comerciante en el autobús?",
        ],
        [
            "¿Dónde está el centro de servicios y a qué hora abre?",
            "Ayer perdí el pasaporte, ¿qué hago?",
        ],
    ],
}

# How the card number is typed after the form asks for it. In Chinese the number alone
# (pasted): "卡号是YW…" is refused as not a card number by the gateway as it stands (the
# reference it puts in place of the number, right after a Chinese character, is not
# found again by bot.protocol.card_token), which would end these users' linking early.
CARD: dict[str, str] = {
    "en": "It's {card}",
    "zh": "{card}",
    "ar": "رقم البطاقة {card}",
    "ru": "Номер карты {card}",
    "fr": "{card}",
    "es": "Es la {card}",
}

MONTHS: dict[str, tuple[str, ...]] = {
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
    "ru": (
        "января", "февраля", "марта", "апреля", "мая", "июня",
        "июля", "августа", "сентября", "октября", "ноября", "декабря",
    ),
    "fr": (
        "janvier", "février", "mars", "avril", "mai", "juin",
        "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ),
    "es": (
        "enero", "febrero", "marzo", "abril", "mayo", "junio",
        "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre",
    ),
}  # fmt: skip


def birth_date(lang: str, born: dt.date) -> str:
    """The date of birth as people of the language usually write it."""
    if lang == "zh":
        return f"{born.year}年{born.month}月{born.day}日"
    if lang == "ar":
        # Day first, with slashes: both readings are kept and the registry decides.
        return f"{born.day:02d}/{born.month:02d}/{born.year}"
    month = MONTHS[lang][born.month - 1]
    if lang == "en":
        return f"{month} {born.day}, {born.year}"
    if lang == "es":
        return f"{born.day} de {month} de {born.year}"
    return f"{born.day} {month} {born.year}"


VISA_QUESTION: dict[str, str] = {
    "en": "Thanks. When does my visa expire?",
    "zh": "我的签证哪天到期？",
    "ar": "متى تنتهي تأشيرتي؟",
    "ru": "Когда у меня заканчивается виза?",
    "fr": "Et mon visa, il expire quand ?",
    "es": "¿Hasta cuándo es válida mi visa?",
}

# (opening, who it is against, the other party's name), two per language.
COMPLAINT: dict[str, list[tuple[str, str, str]]] = {
    "en": [
        ("I want to file a complaint", "A supplier", "Golden Star Trading Co."),
        ("I'd like to make a complaint, please", "my landlord", "Mr. Wang, Building 5 Beiyuan"),
    ],
    "zh": [
        ("我要投诉", "供应商", "义乌市金星贸易有限公司"),
        ("我想投诉一下", "房东", "北苑小区的王先生"),
    ],
    "ar": [
        ("أريد تقديم شكوى", "المورد", "شركة النجمة الذهبية للتجارة"),
        ("عندي شكوى وأريد تسجيلها", "صاحب الشقة", "السيد وانغ في بيييوان"),
    ],
    "ru": [
        ("Хочу подать жалобу", "Поставщик", "Торговая компания «Золотая звезда»"),
        ("Мне нужно написать жалобу", "арендодатель", "господин Ван, дом 5 в Бэйюане"),
    ],
    "fr": [
        ("Je voudrais déposer une plainte", "Le fournisseur", "Société Étoile d'Or"),
        ("J'ai une réclamation à faire", "mon propriétaire", "M. Wang, résidence Beiyuan"),
    ],
    "es": [
        ("Quiero poner una reclamación", "El proveedor", "Comercial Estrella Dorada"),
        ("Quisiera presentar una queja", "el casero", "el señor Wang, en Beiyuan"),
    ],
}

# (asking for a person, the message for staff).
HANDOFF: dict[str, tuple[str, str]] = {
    "en": (
        "I want to talk to a person",
        "My container is stuck at customs in Ningbo, can someone call me back?",
    ),
    "zh": ("我要找人工客服", "我的货在宁波海关被扣了，能不能请工作人员给我回个电话？"),
    "ar": (
        "أريد التحدث مع موظف",
        "حاويتي محجوزة في جمارك نينغبو، هل يمكن أن يتصل بي أحد؟",
    ),
    "ru": (
        "Можно поговорить с живым человеком?",
        "Мой контейнер застрял на таможне в Нинбо, можете мне перезвонить?",
    ),
    "fr": (
        "Je voudrais parler à un conseiller",
        "Mon conteneur est bloqué à la douane de Ningbo, quelqu'un peut me rappeler ?",
    ),
    "es": (
        "Quiero hablar con una persona",
        "Mi contenedor está retenido en la aduana de Ningbo, ¿alguien me puede llamar?",
    ),
}


def conversation(
    flow: str, lang: str, rng: random.Random, resident: Resident | None = None
) -> list[Line]:
    """The messages of one user, in order."""
    if flow == "policy":
        return [Line(t) for t in rng.choice(POLICY[lang])]
    if flow == "link":
        if resident is None:
            raise ValueError("a link conversation needs a resident")
        return [
            Line("/link"),
            Line(CARD[lang].format(card=resident.card_number)),
            Line(birth_date(lang, resident.date_of_birth)),
            Line(VISA_QUESTION[lang]),
        ]
    if flow == "complaint":
        opening, kind, party = rng.choice(COMPLAINT[lang])
        answers = [kind, party][: rng.choice((1, 2))]
        return [Line(opening), *(Line(a) for a in answers), Line("/cancel")]
    if flow == "handoff":
        ask, for_staff = HANDOFF[lang]
        return [Line(ask), Line(for_staff, expects_reply=False), Line("/bot")]
    raise ValueError(f"unknown conversation: {flow}")
