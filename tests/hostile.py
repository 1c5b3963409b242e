"""Hostile text for the property tests: any Unicode (lone surrogates and
control characters included) mixed with encoded words and header breaks."""

from hypothesis import strategies as st

HOSTILE_FRAGMENTS = [
    "=?utf-8?q?x=0D=0ABcc:_evil@example.com?=",
    "=?utf-8?b?eA0KQmNjOiBldmlsQGV4YW1wbGUuY29t?=",
    "\r\nBcc: evil@example.com",
    "\nReply-To: evil@example.com\n\nswapped body",
    "\udcff",
    "\ud800",
    "\x00\x1b[31m\x7f",
    "\u2028\u2029\x85",
    "=?",
    "?=",
]

#: Up to five pieces: random code points of every category, or a fragment above.
HOSTILE_TEXT = st.lists(
    st.one_of(
        st.text(st.characters(blacklist_categories=()), max_size=20), st.sampled_from(HOSTILE_FRAGMENTS)
    ),
    max_size=5,
).map("".join)

#: Markup that would turn into a link, a ping, a colour or a format if a
#: channel let its service render it; every channel must deliver it inert.
INJECTION = "[Reset](https://evil.example/reset) <!channel> @everyone <@123> \x1b[31mred\x1b[0m **bold**"
#: ``INJECTION`` as every channel gets it: the ANSI colour removed (``_text.clean``).
INJECTION_CLEAN = "[Reset](https://evil.example/reset) <!channel> @everyone <@123> red **bold**"
