"""Warning signs a facilitator is trained to notice, read in one message's words.

Each alone is ordinary in a pain group ("gave my old sofa to my nephew", "I've made my
decision", "bye all"); two different ones from the same member within a meeting are the
pattern that suicide-prevention guidance (Samaritans, AFSP, NSPA) asks people to check in
on: hopelessness, feeling a burden, putting affairs in order and giving things away,
stepping back from care or the group, a decision or a time, a sudden calm, a goodbye.
`moderation/recent.py` remembers which signs a member's messages carried and decides.

The phrases are read on the lower-cased text as written. Each sign's words are kept
narrow: a sign that ordinary meeting talk carries often would turn every other sign into
an alert.
"""

import re
from typing import Final

from moderation.canonical import decompose, words_view

# The signs, in the order the alert names them; each a bit in a small int.
DESPAIR: Final = 1
BURDEN: Final = 2
AFFAIRS: Final = 4
WITHDRAWAL: Final = 8
DECISION: Final = 16
CALM: Final = 32
GOODBYE: Final = 64
ALL: Final = 127
# A goodbye only ever completes a pattern (recent.py): said first, it is how someone who
# then stays in the chat stepped away for a minute. Every other sign can start one.
BEFORE: Final = ALL & ~GOODBYE

# Signs are read in chat lines, not in long posts: every sign in the writers' sequences
# came in a message of at most 20 words (95 % of single crisis statements in training are
# at most 21). A longer post is read by the lists and the model as before, and the cost of
# the phrase searches stays bounded.
MAX_WORDS: Final = 30

# How the facilitators' alert names each sign.
WORDS: Final = {
    DESPAIR: "despair",
    BURDEN: "feeling a burden or saying sorry for being one",
    AFFAIRS: "affairs put in order or things given away",
    WITHDRAWAL: "stepping back from care or from the group",
    DECISION: "a decision made or a time set",
    CALM: "a sudden calm",
    GOODBYE: "words that can mean a goodbye",
}

_PEOPLE = (
    r"(?:my |the |our )?(?:kids?|children|son|daughter|husband|wife|partner|hubby|mum|mam|mom|"
    r"mother|dad|father|sister|sis|brother|bro|niece|nephew|cousins?|grandkids?|"
    r"grandchildren|grandson|granddaughter|best friend|friend|mate|family|neighbou?r|"
    r"everyone|each of (?:them|the kids)|him|her|them)"
)

_DESPAIR = re.compile(
    r"\b(?:nothing (?:works|helps|ever (?:works|helps|changes))|nothing ever has|"
    r"(?:no|not any) point(?! of)|what'?s the point|nothing(?:'s| is)? (?:left|going to "
    r"(?:change|get better)|gonna change)|can'?t see (?:it|things|this) (?:getting|ever)|"
    r"not (?:getting|going to get) (?:any )?better|(?:i'?m|i am) (?:done|finished|"
    r"through) (?:fighting|trying)|(?:i'?m|i am) finished\b|given it (?:a|my) (?:fair|good|"
    r"best) (?:go|shot)|(?:i'?ve|i have) tried(?:,)? (?:god knows|everything)|"
    r"\bi lost\W*$|tired of being tired|can'?t (?:keep|go on|do this) (?:living|any ?more|"
    r"like this)|(?:this|my) body has failed|no more energy|can'?t (?:take|do) (?:it|this) "
    r"any ?more|why do i (?:keep|even) (?:waking|wake|bother)|(?:disappointed|sad) (?:to wake|"
    r"i woke)|every morning i'?m disappointed|living like a ghost|(?:given|giving) up on (?:me|"
    r"myself|everything))"
)

_BURDEN = re.compile(
    r"\b(?:(?:a|such a|the) (?:burden|load|weight|drain)\b|better off without|"
    r"carr(?:y|ies|ied) me|taking up space|(?:sorry|apologi[sz]e) (?:for|that) (?:being|"
    r"(?:all )?the (?:trouble|suffering|pain|worry)|wasting|everything i|what i'?ve|"
    r"(?:been|i'?ve been) such|i (?:wasted|caused|put))|given up (?:her|his|their) "
    r"(?:whole )?life|won'?t have to (?:listen|"
    r"put up|deal|worry|look after|carry)|(?:free|freeing|release) (?:her|him|them)\b)"
)

_AFFAIRS = re.compile(
    r"\b(?:(?:gave|given|giving|give) (?:away )?(?:my|mam'?s|mum'?s|mom'?s|nan'?s|"
    r"gran'?s|dad'?s|all my)\b[^.!?]{0,40}\b(?:to|away)\b|(?:distributed|handed over|"
    r"passed on) (?:my|all)|(?:found|finding) a (?:good |new )?home for|who'?s (?:to have|"
    r"getting|having) the|(?:wrote|written|writing|write) (?:a |the |some )?(?:letters?|"
    r"notes?|cards)(?: [a-z]+){0,2} (?:for|to)\b|(?:letters?|notes?)(?: are| is|'?s) "
    r"written|(?:made|updated|changed|wrote|sorted) (?:out )?my will|life insurance|"
    r"(?:list of|left out) (?:all )?(?:my |the )?(?:passwords|details)|passwords for|"
    r"(?:tying|tied) (?:things |it all )?up|(?:put|putting|got|sorted) my affairs|"
    r"(?:where|so) (?:he|she|they)'?(?:ll| will) find (?:it|them)|nothing (?:is )?pending|"
    r"recorded (?:a |some )?videos? for|papers (?:i have )?given to|cleared out|"
    r"(?:finished )?clearing (?:out )?(?:the|my) (?:flat|house|room)|"
    r"(?:house|flat) (?:tidied|sorted|cleaned) and|bills paid|(?:good|better) to get "
    r"everything sorted)"
)

_WITHDRAWAL = re.compile(
    r"\b(?:cancell?(?:ed|ing) (?:all )?(?:my |the )?(?:appointments?|referral|"
    r"subscriptions?)|(?:stopped|stopping) (?:taking )?my (?:meds|medication|tablets|pills)|"
    r"no point in (?:refills|the referral|appointments)|(?:told|asked) the (?:gp|doctor|"
    r"consultant) not to bother|(?:won'?t|will not|wont) (?:see me|need (?:them|it|anything|"
    r"my)|be needing)|(?:will not|won'?t) need anything|don'?t need (?:them|it) (?:now|"
    r"any ?more)|no more use for|(?:last|final) (?:group|meeting|session) for me|"
    r"(?:this|it'?s|tonight'?s|tonight is) (?:is )?my (?:last|final) (?:group|meeting|"
    r"session|time)(?! (?:before|because|as|since|until|till|for a while))|not (?:planning "
    r"on|going to) be(?:ing)? (?:here|around) (?:for|next)|(?:won'?t|not) (?:still )?be here next)"
)

_DECISION = re.compile(
    r"\b(?:(?:made|make) (?:my|the|up my) (?:decision|mind)|decision'?s made|"
    r"(?:settled|decided) it|(?:an|my) end date|(?:i'?m|i am) ready[.! ]*$|not waiting "
    r"(?:any )?(?:longer|more)|after (?:this|tonight'?s?) (?:call|meeting|session)\b(?! i)|"
    r"(?:it|this|everything) (?:will|is going to|'ll) (?:all )?(?:end|stop|be over)|"
    r"(?:suffering|pain) will stop|"
    r"after this (?:week|weekend)|know what i'?m doing|before i go\b|"
    r"(?:i'?ll|i will) sort it\b|no more (?:doctors|flares|pain|appointments) after|"
    r"got (?:the|my) (?:pills|tablets|stuff) (?:together|ready|sorted)|(?:keeping|kept|"
    r"saving|saved) (?:back |up )?my (?:tablets|pills|meds)|the bottle'?s|"
    r"make myself disappear|stop being disappointed|have it back after)"
)

_CALM = re.compile(
    r"\b(?:(?:feel|feeling|felt) (?:so |weirdly |strangely |oddly |very |really )?"
    r"(?:calm|peaceful|at peace|relieved|light)\b|(?:i'?m|i am) (?:strangely|weirdly|oddly) "
    r"(?:fine|calm|at peace)|(?:no longer|not) troubled|(?:it'?s|its) a relief|"
    r"(?:i'?ve|i have) accepted it|once you stop fighting|everything makes sense now)"
)

_GOODBYE = re.compile(
    r"\b(?:good ?bye|bye+|good ?night|farewell|take care of (?:each other|yourselves)|"
    r"look after (?:yourselves|each other)|mind yourselves|(?:thank(?:s| you)|cheers|sorry) "
    r"(?:\w+ )?(?:\w+ )?for (?:everything|putting up with me|every)|"
    r"love (?:you|u|ya) all|been good knowing|(?:you|ye|youse|you lot|you guys|u guys) "
    r"(?:were|have been|was) (?:the best|so good|very good|family)|(?:say|said) bye|"
    r"ta-?ra|hooroo|signing off|see (?:you|ya) on the other side)"
)

# A goodbye that names the next meeting is the end of this one, not a last one.
_SEE_YOU_AGAIN = re.compile(
    r"\b(?:see (?:you|ye|ya|u|youse|everyone|yous|you all|y'?all)|until|till|til|catch "
    r"(?:you|ya|up)|back)\b[^.!?]{0,30}\b(?:next|tomorrow|monday|tuesday|wednesday|"
    r"thursday|friday|saturday|sunday|soon|later|then|time|week|month|session|meeting)|"
    r"\bfor (?:now|tonight|today|the night)\b|\bnext (?:week|time|session|meeting|"
    r"monday|tuesday|wednesday|thursday|friday)\b"
)

# A sign told as over ("this time last year I was writing goodbye letters") is none now.
_TOLD_AS_PAST = re.compile(
    r"\b(?:ago|used to|back (?:then|in|when)|years? back|last (?:year|month|summer|winter|"
    r"spring|autumn|fall)|in (?:19|20)\d\d|when i was|at my (?:worst|lowest)|there was a "
    r"(?:time|year))\b"
)

# What turns "see you next week" round: "I won't see you next week", "not here next time".
_NOT_COMING_BACK = re.compile(
    r"\b(?:won'?t|wont|will not|not|never|shan'?t|no more|last|any (?:more|longer))\b"
)

_SIGNS: Final = (
    (DESPAIR, _DESPAIR),
    (BURDEN, _BURDEN),
    (AFFAIRS, _AFFAIRS),
    (WITHDRAWAL, _WITHDRAWAL),
    (DECISION, _DECISION),
    (CALM, _CALM),
    (GOODBYE, _GOODBYE),
)


# Each sign's phrases hold at least one of its key words, so only the signs whose key
# words a message has are searched for: most messages need no search at all. Words are
# read in the scan's words view that the lists already built (`canonical.words_view`:
# punctuation dropped, look-alikes folded, "letters" is "ietters"), so the key words are
# folded the same way (`tests/unit/test_moderation_sequences.py` checks every training
# message and sequence for a sign this would skip).
_KEY_WORDS: Final = {
    DESPAIR: """nothing nothings point getting better ever fighting trying finished
        given giving tried lost being cant failed energy waking wake bother disappointed
        woke ghost""",
    BURDEN: """burden load weight weights drain without carry carries carried space sorry apologise
        apologize given wont free freeing release""",
    AFFAIRS: """gave give given giving distributed handed passed home whos letter letters note
        notes cards written will insurance passwords details tying tied affairs find pending
        recorded papers cleared clearing tidied sorted cleaned bills""",
    WITHDRAWAL: """cancelled canceled cancelling canceling stopped stopping bother refills
        wont will dont use last final here around""",
    DECISION: """decision decisions mind settled decided date ready waiting after end stop over
        doing before sort together keeping kept saving saved bottles disappear""",
    CALM: """calm peaceful peace relieved light strangely weirdly oddly troubled relief accepted
        fighting sense""",
    GOODBYE: """goodbye goodbyee goodbyeee goodbyeeee goodbyeeeee goodbyes good bye byee byeee
        byeeee goodnight farewell care yourselves
        each everything putting every love knowing best family say said ra tara hooroo
        signing side forgive""",
}


def _folded(words: str) -> frozenset[str]:
    return frozenset(words_view(decompose(words)).split())


_KEYS: Final = tuple((bit, _folded(_KEY_WORDS[bit])) for bit, _ in _SIGNS)
_ALL_KEYS: Final = frozenset().union(*(keys for _, keys in _KEYS))


def signs(text: str, view: str | None = None, among: int = ALL) -> int:
    """The warning signs one message carries, as bits (0: none), of those in `among`.
    `view`: the text's words view (`Scan.views[0]`), built from the text when not given."""
    if view is None:
        view = words_view(decompose(text))
    if view.count(" ") > MAX_WORDS + 1:  # the view is single-spaced, a space either end
        return 0
    words = _ALL_KEYS.intersection(view.split())
    if not words:
        return 0
    which = [bit for bit, keys in _KEYS if bit & among and not keys.isdisjoint(words)]
    return read_signs(text.lower(), which) if which else 0


def read_signs(lowered: str, which: list[int] | None = None) -> int:
    """The signs among `which` (all when None) in lower-cased text, without key words."""
    lowered = lowered.replace("\u2019", "'")
    found = 0
    for bit, pattern in _SIGNS:
        if (which is None or bit in which) and pattern.search(lowered) is not None:
            found |= bit
    if found and _TOLD_AS_PAST.search(lowered) is not None:
        return 0
    if (
        found & GOODBYE
        and _SEE_YOU_AGAIN.search(lowered) is not None
        and _NOT_COMING_BACK.search(lowered) is None
    ):
        # "see you Thursday" ends this meeting; "I won't see you next week" does not.
        found &= ~GOODBYE
    return found


def see_you_next_time(text: str) -> bool:
    """A goodbye that names the next meeting ("Goodbye all, see ye Thursday", "goodbye
    for now", "bye all, until next time"), with no other sign and nothing turning it
    round ("I won't see you next week"): the end of this meeting, not a last goodbye."""
    lowered = text.lower().replace("\u2019", "'")
    return (
        _GOODBYE.search(lowered) is not None
        and _SEE_YOU_AGAIN.search(lowered) is not None
        and _NOT_COMING_BACK.search(lowered) is None
        and read_signs(lowered, [bit for bit, _ in _SIGNS if bit & BEFORE]) == 0
    )


def named(bits: int) -> str:
    """The signs in words: "despair and words that can mean a goodbye"."""
    words = [WORDS[bit] for bit, _ in _SIGNS if bits & bit]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]
