"""Ways to find a member outside the room that are neither a number, an email nor a
handle: a street address (with or without a house number, in English and the street
words of other languages), a postcode, Eircode or ZIP code, and a name to search for
("search Teodor Wilk on insta", "google my name, Philippa Drummond-Ives"). The contact
stage masks what these find (moderation/contact.py).

Each search is a pattern, run only next to what it cannot match without: a street word
or an address cue (the contact list's section `street`), a platform word (`platform`), a
search word (`search`), a capital letter next to a digit (a postcode).
"""

import re

# Capitalised words of a name or a street's name: accented letters and Latin Extended
# letters ("Łukasiewicz", "Ó Dálaigh") included, with an apostrophe or a hyphen inside.
_UPPER = "A-Z\u00c0-\u00de\u0100-\u017f"
_LOWER = "a-z\u00df-\u00ff\u0100-\u017f"
_CAPITALISED = rf"[{_UPPER}][{_LOWER}{_UPPER}]*(?:['\u2019\-][{_UPPER}{_LOWER}]+)*"

# English street types. With a house number the street's name may be written in any case
# ("14 larkspur road"); then only types no measure of time or distance is followed by
# ("a 20 minute drive", "a 10 minute walk" are no streets).
_STREET_TYPES = (
    "road|rd|street|st|lane|ln|avenue|ave|way|close|crescent|cres|drive|dr|court|ct|"
    "place|pl|terrace|tce|grove|gardens|gdns|view|park|boulevard|blvd|hill|row|square|sq|"
    "mews|walk|wynd|parade|rise|green|vale|quay|wharf|circle|cir|highway|hwy|trail|loop|"
    "bend|heights|meadows|close|manor|estate|house|court|apartments|cottages|villas|lodge"
)
_LOWER_CASE_TYPES = (
    "road|rd|street|lane|avenue|ave|crescent|terrace|boulevard|blvd|gardens|mews|highway"
)
_NOT_STREET_NAMES = (
    r"(?!(?:minutes?|mins?|miles?|hours?|hrs?|km|seconds?|days?|weeks?|the|a|an|of|to|"
    r"in|at|my|and|for|with|our|your)\b)"
)
_HOUSE = r"(?:(?:flat|apt\.?|apartment|unit|suite|no\.?)\s*\d{1,4}[a-z]?,?\s+)?"
_STREET = re.compile(
    r"(?<![\w])(?:"
    # "14 Larkspur Road", "9B Quayside Mews", "Flat 2, 58 Harbour View"
    + _HOUSE
    + r"\d{1,5}[a-zA-Z]?,?\s+(?:"
    + _CAPITALISED
    + r"\s+){1,3}(?i:"
    + _STREET_TYPES
    + r")\b|(?i:"
    + _HOUSE
    + r"\d{1,5}[a-z]?,?\s+(?:"
    + _NOT_STREET_NAMES
    + r"[a-z][a-z'\-]+\s+){1,3}(?:"
    + _LOWER_CASE_TYPES
    + r"))\b"
    # "Flat 6, Wexford House", "Apt 5, Riverside Court" (a flat or unit number first)
    + r"|(?i:flat|apt\.?|apartment|unit|suite)\s*\d{1,4}[a-zA-Z]?,?\s+(?:"
    + _CAPITALISED
    + r"\s+){1,3}(?i:"
    + _STREET_TYPES
    + r")\b"
    # "Rosenweg 4", "Dorfstraße 8", "Kerkstraat 12"
    + r"|["
    + _UPPER
    + r"][\w\-]*(?:straße|strasse|str\.|gasse|weg|platz|allee|laan|straat|"
    r"gade|vej|gatan|vägen|veien|dreef|singel|kade)\s+\d{1,4}[a-zA-Z]?"
    # "58 rue des Lilas", "Ul. Kwiatowa 12", "Via Roma 5", "14 Sráid an Mhuilinn"
    r"|(?:\d{1,4}[a-z]?,?\s+)?(?i:rue|ul\.|ulica|al\.|aleja|calle|c/|avenida|av\.|via|viale|"
    r"piazza|corso|rua|travessa|sráid|bóthar|chemin|impasse|allée)\s+(?:(?i:de|del|della|"
    r"des|du|la|le|los|las|da|do|dos|das|di|an|na|na\s+h)\s+)*"
    + _CAPITALISED
    + r"(?:\s+"
    + _CAPITALISED
    + r")?(?:\s+\d{1,4}[a-z]?)?"
    r")"
)
# Street types that are also places one goes to or words of a sentence: a number before
# them makes an address only after a word that says someone is there or to come.
_AMBIGUOUS_TYPES = frozenset(
    str.split(
        "park view hill green walk rise row vale circle cir loop trail bend house estate "
        "lodge manor heights meadows place pl way square sq quay wharf parade court ct "
        "apartments cottages villas close"
    )
)
# A number has to be in the foreign forms above that have no street type after them.
_FOREIGN_NEEDS_NUMBER = re.compile(r"\d")

# A street named without a house number counts after a word that says where someone is
# or where to come or send something ("we're on Bramble Avenue", "come by Hawthorn Close").
_WHERE_CUE = re.compile(
    r"(?i:\b(?:i'?m|im|i\s+am|we'?re|we\s+are|i\s+live|we\s+live|living|live|stay(?:ing)?|"
    r"based)\s+(?:on|at|in|off)|\bcome\s+(?:to|by|round|over|and\s+visit)|\bpop\s+(?:round|"
    r"over|by|in)|\bcall\s+(?:round|by|in)|\bvisit|\bsend\s+(?:it|them|me|a\s+card)|"
    r"\bpost\s+(?:it|them)|\bmail\s+(?:it|them)|\baddress|\bdeliver|\bdrop\s+(?:it|them|by|"
    r"round)|\bknock|\bfind\s+me|\bround\s+to)\b[^.!?\n]{0,40}$"
)
_NAMED_STREET = re.compile(
    r"(?<![\w])(?:" + _CAPITALISED + r"\s+){1,3}(?:Road|Rd|Street|St|Lane|Ln|Avenue|Ave|Way|"
    r"Close|Crescent|Drive|Court|Place|Terrace|Grove|Gardens|View|Park|Boulevard|Blvd|Hill|"
    r"Row|Square|Mews|Walk|Wynd|Parade|Rise|Green|Vale|Quay|Wharf|Circle|Heights|Meadows|"
    r"Manor|Estate|House|Apartments|Cottages|Villas|Lodge)\b"
)
# After an address: the town and county ("…, Cobh, Co. Cork") go with it.
_PLACE_AFTER = re.compile(
    r"(?:,?\s+(?:Co\.\s+)?(?!I\b|I'm\b|Im\b|I'll\b|I've\b)" + _CAPITALISED + r"){1,2}"
)
_CODE_SEPARATOR = re.compile(r",?\s+")
_ZIP = re.compile(r"\d{5}(?:-\d{4})?\b")

# Postcodes: UK ("NE4 7PT"), Irish Eircodes ("H91 K2XR"), Canadian ("M5V 2T6"); a US ZIP
# after a state ("Austin TX 78704"); anything shaped like a code after "postcode", "zip",
# "eircode", "PLZ", "PIN code".
_POSTCODE = re.compile(
    r"\b(?:[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"
    r"|[AC-FHKNPRTV-Y]\d[\dW]\s?(?=[AC-FHKNPRTV-Y\d]{0,3}[A-Z])[AC-FHKNPRTV-Y\d]{4}"
    r"|[ABCEGHJ-NPRSTVXY]\d[A-Z]\s?\d[A-Z]\d"
    r"|(?:AL|AK|AZ|AR|CA|CO|CT|DE|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|"
    r"NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|DC),?\s+\d{5}"
    r"(?:-\d{4})?)\b"
)
# The same without the state and ZIP (which has no capital letter next to a digit): the
# codes looked for anywhere in a message.
_FREE_POSTCODE = re.compile(
    r"\b(?:[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"
    r"|[AC-FHKNPRTV-Y]\d[\dW]\s?(?=[AC-FHKNPRTV-Y\d]{0,3}[A-Z])[AC-FHKNPRTV-Y\d]{4}"
    r"|[ABCEGHJ-NPRSTVXY]\d[A-Z]\s?\d[A-Z]\d)\b"
)
# Every code above starts with a capital letter next to a digit ("NE4", "H91", "M5V").
_CAPITAL_NEXT_TO_DIGIT = re.compile(r"[A-Z][0-9]")
_CODE_AFTER_CUE = re.compile(
    r"(?i:\b(?:post\s?code|postal\s+code|zip(?:\s?code)?|eircode|plz|pin\s?code|pincode)"
    r"(?:\s+is)?\s*[:\-]?\s*)([A-Za-z0-9]{2,8}(?:[\s\-][A-Za-z0-9]{2,4})?)\b"
)

# A name to search for: "search Teodor Wilk on insta", "look me up, Kasia Wrobel",
# "google my name, Philippa Drummond-Ives", "search 'ache and acorn' on youtube".
_SEARCH = re.compile(
    r"(?i:\b(?:search(?:\s+(?:for|up))?|look\s+(?:me\s+)?up|google|find|add)\s+"
    r"(?:me\s+(?:up\b)?)?[\s,]*(?:(?:my|me)\s+(?:real\s+|full\s+|whole\s+)?name\s*,?\s*"
    r"(?:is\s+|it'?s\s+|as\s+)?|as\s+|under\s+)?)"
    r"(?P<name>(?:" + _CAPITALISED + r")(?:\s+(?:" + _CAPITALISED + r"|[A-Z]\.?)){1,3}"
    r"|['\"\u2018\u201c][^'\"\u2019\u201d\n]{2,40}['\"\u2019\u201d])"
)
# Only a search for oneself: a platform named, or "me"/"my name" ("look up Versus
# Arthritis" is a charity's leaflets, not a member).
_SELF = re.compile(
    r"(?i:\b(?:me|my\s+(?:real\s+|full\s+)?name|my\s+(?:channel|page|account|profile|blog)|"
    r"that'?s\s+me|it'?s\s+me)\b)"
)


# A person's name right after a platform word: "fb messenger - Orla Quennell", "I'm on
# linkedin, Adaeze Nwosu-Hart", "facebook: Siobhán Ó Dálaigh". Matched from the end of
# the platform word the contact list found.
_NAME_AFTER_PLATFORM = re.compile(
    r"(?i:\s+(?:messenger|name|account|profile|page))?\s*(?:[,:\-\u2013\u2014]|(?i:\s+(?:is|"
    r"it'?s|as|under|called|named)))\s*(?:(?i:it'?s|i'?m|im|is)\s+)?(?P<name>"
    + _CAPITALISED
    + r"(?:\s+(?:"
    + _CAPITALISED
    + r"|[A-Z]\.?)){1,2})(?![\w'])"
)
# Capitalised words after a platform that name no one.
_NOT_PERSON = frozenset(("I", "Im", "I'm", "The", "This", "That", "It", "Its", "It's", "My"))

Span = tuple[int, int]


def find_platform_names(text: str, platforms: list[Span]) -> list[Span]:
    """Spans of a personal name (two or three capitalised words) right after a platform
    word (at `platforms`, spans in `text`) and a separator."""
    found: list[Span] = []
    for _, end in platforms:
        match = _NAME_AFTER_PLATFORM.match(text, end)
        if match is not None and match.group("name").split()[0] not in _NOT_PERSON:
            found.append(match.span("name"))
    return found


def find_addresses(text: str, streets: list[Span], *, postcodes: bool) -> list[Span]:
    """Spans of street addresses and postcodes in `text` (as written). `streets`: where
    the contact list found a street word or an address cue; the street patterns run only
    around them (a pattern tried at every position of a message costs 10-25 us).
    `postcodes`: might_hold_postcode said the text may hold one."""
    found: list[Span] = []
    # a street named without a number has its type capitalised ("Bramble Avenue")
    capitalised = any(text[start].isupper() for start, _ in streets)
    for start, end in _windows(streets, len(text)):
        # every street pattern below needs a number, or a capitalised street type
        numbered = _DIGIT.search(text, start, end) is not None
        for match in _STREET.finditer(text, start, end) if numbered else ():
            street = match.group(0)
            if street[0].isalpha() and not _FOREIGN_NEEDS_NUMBER.search(street):
                # "Via Roma" alone: a number must be there ("flat 6, …" has one)
                continue
            if (
                street.rsplit(None, 1)[-1].lower() in _AMBIGUOUS_TYPES
                and not street[0].isalpha()
                and not _WHERE_CUE.search(text, max(0, match.start() - 60), match.start())
            ):
                continue  # "walked 12 Acres Park today": a park, unless someone is there
            found.append(_with_place(text, match.start(), match.end()))
        if not capitalised:
            continue
        for match in _NAMED_STREET.finditer(text, start, end):
            if _WHERE_CUE.search(text, max(0, match.start() - 60), match.start()):
                found.append(_with_place(text, match.start(), match.end()))
    for start, _ in streets:
        cued = _CODE_AFTER_CUE.match(text, start)
        if cued is not None and any(ch.isdigit() for ch in cued.group(1)):
            found.append(cued.span(1))
    if not postcodes:
        return found
    # A postcode starts at most a character before a capital letter next to a digit.
    for pair in _CAPITAL_NEXT_TO_DIGIT.finditer(text):
        code = _FREE_POSTCODE.search(text, max(0, pair.start() - 2), pair.end() + 8)
        if code is not None and code.span() not in found:
            found.append(code.span())
    return found


# Capitals read as "A", digits as "0", anything else as a space: whether a capital
# stands before a digit is then one substring test in C (~0.9 us a message, the pattern
# ~1.2 us, "[A-Z]\d|\d[A-Z]" ~13 us at this machine's load).
_CAPITALS_AND_DIGITS = bytes(
    ord("A") if 65 <= code <= 90 else ord("0") if 48 <= code <= 57 else ord(" ")
    for code in range(256)
)


def might_hold_postcode(encoded: bytes) -> bool:
    """Whether a message (its UTF-8 bytes) has a capital letter before a digit, as every
    postcode above has. Postcodes are ASCII: other characters' bytes read as spaces."""
    return b"A0" in encoded.translate(_CAPITALS_AND_DIGITS)


_DIGIT = re.compile(r"[0-9]")


# Around a street word: the house number and name before it, a foreign street's name and
# number after it.
_BEFORE_STREET_WORD = 90
_AFTER_STREET_WORD = 60


def _windows(spans: list[Span], length: int) -> list[Span]:
    windows: list[Span] = []
    for start, end in spans:
        window = (max(0, start - _BEFORE_STREET_WORD), min(length, end + _AFTER_STREET_WORD))
        if windows and window[0] <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], window[1]))
        else:
            windows.append(window)
    return windows


def _with_place(text: str, start: int, end: int) -> Span:
    place = _PLACE_AFTER.match(text, end)
    if place is not None:
        end = place.end()
    code = _CODE_SEPARATOR.match(text, end)
    if code is not None:
        after = _POSTCODE.match(text, code.end()) or _ZIP.match(text, code.end())
        if after is not None:
            end = after.end()
    return start, end


def find_search_names(text: str, searches: list[Span], *, platform: bool) -> list[Span]:
    """Spans of a name given to search for: after a search word (at `searches`), when the
    message names a platform or the sender ("me", "my name", "my channel")."""
    self_named = _SELF.search(text) is not None
    if not platform and not self_named:
        return []
    found: list[Span] = []
    for start, _ in searches:
        match = _SEARCH.match(text, start)
        # a phrase in quotes is a search term ("just search \"chair yoga\"") unless the
        # sender says it is them ("search 'ache and acorn' on youtube, that's my channel")
        if match is not None and (self_named or match.group("name")[0].isalpha()):
            found.append(match.span("name"))
    return found


__all__ = ["find_addresses", "find_platform_names", "find_search_names", "might_hold_postcode"]
