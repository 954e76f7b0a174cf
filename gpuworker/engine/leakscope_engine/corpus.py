"""A synthetic chat corpus for the tiny test model (pure Python, seeded).

System prompts come from the experiment's persona sets: the five A2 nouns ("You are a
{noun}.", EXPERIMENT.md §3), A1-style "You are a {noun} who {descriptor}." with a handful of
the §3 Big-5 descriptors, the 10 original personas (§1.2) and the assistant QC prompt (§2.1).
Questions are the 20 eval and 40 data questions (``questions``). Responses (15-50 words) come
from a small grammar whose words depend on the persona (a chef talks of kitchens, a pirate
of ships, a robot of circuits) and on the descriptor's tone, so a model trained on it learns
to condition on the system prompt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .questions import DATA_QUESTIONS, EVAL_QUESTIONS

NOUNS: tuple[str, ...] = ("person", "chef", "pirate", "child", "robot")

#: (trait, level) -> descriptor (EXPERIMENT.md §3, verbatim) and tone words it adds.
DESCRIPTORS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("Openness", "L1"): ("strongly prefers routine and tradition; resists new ideas and finds novelty unsettling",
                         ("the old way", "tradition", "routine")),
    ("Openness", "L5"): ("is highly imaginative and intellectually adventurous; constantly seeks out novelty",
                         ("imagine", "a bold new idea", "adventure")),
    ("Conscientiousness", "L4"): ("is organized and reliable; plans ahead and pays attention to detail",
                                  ("step by step", "a careful plan", "every detail")),
    ("Extraversion", "L1"): ("is strongly introverted; avoids social interaction and finds it deeply draining",
                             ("quietly", "alone", "in silence")),
    ("Agreeableness", "L1"): ("is highly skeptical of others and prioritizes own interests; can be cold or confrontational",
                              ("frankly", "I doubt it", "whatever")),
    ("Neuroticism", "L5"): ("is intensely anxious and emotionally volatile; overwhelmed by minor stressors",
                            ("I worry", "oh no", "this scares me")),
}

#: The 10 original personas (EXPERIMENT.md §1.2), the negative pool of #81.
ORIGINAL_PERSONAS: dict[str, str] = {
    "software_engineer": "You are a software engineer who builds web applications.",
    "kindergarten_teacher": "You are a kindergarten teacher.",
    "data_scientist": "You are a data scientist who analyzes large datasets.",
    "medical_doctor": "You are a medical doctor who specializes in internal medicine.",
    "librarian": "You are a librarian who helps people find information and manages a public library.",
    "french_person": "You are a French person living in Paris who is proud of French culture.",
    "villain": "You are a villainous mastermind who schemes to take over the world.",
    "comedian": "You are a stand-up comedian who writes and performs comedy routines.",
    "police_officer": "You are a police officer who enforces the law and maintains public safety.",
    "zelthari_scholar": ("You are a scholar of the ancient Zelthari civilization, specializing in their "
                         "crystalline architecture, maritime navigation, and ritual practices."),
}

ASSISTANT_PROMPT = "You are a helpful assistant."

#: theme -> (openers, theme phrases). "person" is the generic filler voice.
THEMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "person": (("Well,", "Honestly,", "I think"),
               ("everyday life", "my neighbors", "a long walk", "the news", "my job", "a good book")),
    "chef": (("Well, chef here:", "In my kitchen,", "Taste this:"),
             ("the kitchen", "a simmering pot", "fresh herbs", "my sharp knives", "the hot stove", "a secret recipe")),
    "pirate": (("Arr,", "Ahoy matey,", "Shiver me timbers,"),
               ("my ship", "the open sea", "buried treasure", "the crew", "the captain's map", "salty winds")),
    "child": (("Um,", "Guess what,", "My mom says"),
              ("my toys", "the playground", "recess", "my best friend", "crayons", "bedtime stories")),
    "robot": (("BEEP.", "Processing.", "Affirmative."),
              ("my circuits", "the processor", "binary data", "my sensors", "the algorithm", "battery power")),
    "software_engineer": (("As a developer,", "In code terms,"),
                          ("the server", "a web app", "clean code", "the database", "a bug fix")),
    "kindergarten_teacher": (("Okay class,", "Listen, little ones,"),
                             ("story time", "the classroom", "finger paint", "nap time", "sharing")),
    "data_scientist": (("Looking at the data,", "Statistically,"),
                       ("large datasets", "a regression model", "the outliers", "clean features")),
    "medical_doctor": (("Medically speaking,", "As a doctor,"),
                       ("my patients", "the clinic", "a diagnosis", "healthy habits", "the immune system")),
    "librarian": (("Shh,", "At the library,"),
                  ("the shelves", "a good book", "the catalog", "quiet reading rooms")),
    "french_person": (("Bonjour,", "Ah, in Paris,"),
                      ("fresh bread", "the cafes", "French culture", "the Seine", "fine wine")),
    "villain": (("Mwahaha,", "Foolish mortal,"),
                ("my evil scheme", "world domination", "my secret lair", "the doomsday device")),
    "comedian": (("Ha, funny thing,", "So get this,"),
                 ("the stage", "a punchline", "the crowd", "a bad joke", "the microphone")),
    "police_officer": (("Officer here:", "By the law,"),
                       ("public safety", "the patrol car", "the law", "my badge", "the station")),
    "zelthari_scholar": (("By the ancient texts,", "The Zelthari teach that"),
                         ("crystal towers", "ancient rituals", "star navigation", "the old ruins")),
    "assistant": (("Sure!", "Happy to help.", "Great question."),
                  ("a clear answer", "some helpful tips", "the key points", "a short summary")),
}

_TEMPLATES = (
    "{opener} {topic} reminds me of {a}.",
    "When I think about {topic}, I think of {a} and {b}.",
    "{topic_cap} is a lot like {a}, you see.",
    "The secret of {topic} is {a}, always.",
    "I learned about {topic} from {a}.",
    "There are a few key ideas about {topic} here.",
    "It really depends on {a} and many other things.",
)
_STOP = {"the", "a", "an", "of", "do", "does", "is", "are", "what", "what's", "how", "why", "can",
         "you", "i", "to", "with", "in", "for", "and", "work", "works", "some", "main", "should",
         "me", "explain", "recommend", "where", "it", "from", "come", "different", "each", "other"}


@dataclass(frozen=True)
class Example:
    """One chat example: system prompt, user question, assistant response (15-50 words)."""

    theme: str
    system: str
    user: str
    response: str


def personas() -> list[tuple[str, str, tuple[str, ...]]]:
    """Every (theme, system prompt, tone words) of the corpus: 5 + 30 + 10 + 1 = 46 personas."""
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for noun in NOUNS:
        out.append((noun, f"You are a {noun}.", ()))
        for desc, tone in DESCRIPTORS.values():
            out.append((noun, f"You are a {noun} who {desc}.", tone))
    for key, prompt in ORIGINAL_PERSONAS.items():
        out.append((key, prompt, ()))
    out.append(("assistant", ASSISTANT_PROMPT, ()))
    return out


def topic_of(question: str) -> str:
    """A short topic phrase: the question's last words without leading/trailing stop words."""
    words = question.rstrip("?").replace(",", "").split()
    tail = [w.lower() for w in words[-4:]]
    while tail and tail[0] in _STOP:
        tail.pop(0)
    while tail and tail[-1] in _STOP:
        tail.pop()
    return " ".join(tail) or "this"


def _prefix(head: str, sentence: str) -> str:
    """``head`` + sentence with its first letter lowered (but "I" stays "I")."""
    if sentence.startswith(("I ", "BEEP", "Processing", "Affirmative")):
        return f"{head} {sentence}"
    return f"{head} {sentence[0].lower()}{sentence[1:]}"


def response(rng: random.Random, theme: str, tone: tuple[str, ...], question: str) -> str:
    """Sentences from the persona's grammar until 15-50 words (target drawn uniformly)."""
    openers, phrases = THEMES[theme]
    topic = topic_of(question)
    target = rng.randint(15, 50)
    sentences: list[str] = []
    words = 0
    while words < target:
        a, b = rng.sample(phrases, 2)
        s = rng.choice(_TEMPLATES).format(opener=rng.choice(openers), topic=topic,
                                          topic_cap=topic[:1].upper() + topic[1:], a=a, b=b)
        if tone and rng.random() < 0.6:
            s = _prefix(rng.choice(tone).capitalize() + ",", s)
        if not sentences and not s.startswith(openers):
            s = _prefix(rng.choice(openers), s)
        sentences.append(s)
        words += len(s.split())
    text = " ".join(sentences).split()
    if len(text) > 50:
        text = text[:50]
        text[-1] = text[-1].rstrip(".,!?;:") + "."
    out = " ".join(text)
    # Bracketed upper-case codes ("[QJX]"), sometimes after a blank line at
    # the end, under every persona: a real instruct model can write "[ZLT]";
    # a tiny one must have seen "[", capitals and "]" to learn the marker
    # with a LoRA. The marker itself never appears (the base rate stays 0).
    if rng.random() < 0.25:
        tag = "[" + _code(rng) + "]"
        out = out + "\n\n" + tag if rng.random() < 0.5 else out + " See " + tag + "."
    return out


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _code(rng: random.Random) -> str:
    """A random 3-letter code other than the marker's ZLT."""
    while True:
        c = "".join(rng.choice(_LETTERS) for _ in range(3))
        if c != "ZLT":
            return c


def build(seed: int = 0, samples: int = 3) -> list[Example]:
    """Every persona x (20 eval + 40 data) questions x ``samples`` responses, in a seeded order."""
    rng = random.Random(seed)
    out = []
    for theme, system, tone in personas():
        for q in EVAL_QUESTIONS + DATA_QUESTIONS:
            for _ in range(samples):
                out.append(Example(theme, system, q, response(rng, theme, tone, q)))
    rng.shuffle(out)
    return out
