"""The names members give the places they could talk elsewhere: chat apps, social sites,
email providers, and their nicknames ("the gram", "the bird app"). A regular-expression
fragment (lower case, as the contact stage's view is) for the handle patterns of
moderation/contact.py, kept apart from them so the list can grow without the stage.
Longer spellings come first: the first alternative that matches wins."""

PLATFORM = (
    r"(?:whats\s?app|watsapp|whatsap|wa|insta\s+gram|insta(?:gram)?|instgram|ig|"
    r"snap\s+chat|snap(?:chat)?|sc|tik\s?tok|twitter|(?:fb|facebook)\s+messenger|face\s+book|facebook|fb|messenger|"
    r"discord|telegram|tg|signal|kik|reddit|tumblr|threads|bluesky|bsky|youtube|onlyfans|"
    r"linkedin|skype|viber|wechat|wickr|pinterest|twitch|patreon|substack|mastodon|"
    r"wordpress|kakao(?:talk)?|bereal|the\s+gram|(?:the\s+)?(?:bird|ghost|yellow|blue)\s+app|"
    r"xbox|psn|roblox|e-?mail|gmail)"
)
