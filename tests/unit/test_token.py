"""The pure token code: known answers, shape rules and property-based checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import unittest

from hypothesis import given, settings
from hypothesis import strategies as st

from synapse_dp_auth.token import (
    TOKEN_LENGTH,
    is_token_shaped,
    make_token,
    matching_secret,
    secret_fingerprint,
    verify_token,
)

# An independent known answer (computed with `openssl dgst -sha512 -hmac`), so make_token is not
# only checked against the same hmac call it makes.
KNOWN_SECRET = "secret"
KNOWN_USER = "@alice:example.org"
KNOWN_TOKEN = (
    "b01e848165702a307ff8e3af705c3db283eb593ab72882e6d162221f0692980d"
    "5500f775eff7e003b406deb40b99b44e026e4aa887e0de4d0eee29e4b88ee317"
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)
SECRETS = st.lists(
    st.text(min_size=1).map(lambda s: s.encode("utf-8", "surrogatepass")), min_size=1, max_size=3
)


class TokenTests(unittest.TestCase):
    def test_known_answer(self) -> None:
        self.assertEqual(make_token(KNOWN_SECRET, KNOWN_USER), KNOWN_TOKEN)

    def test_is_lowercase_hex_of_hmac_sha512_over_the_full_user_id(self) -> None:
        secret, user_id = "s3cr3t ünïcödé", "@bridge_user:example.org"
        expected = hmac.new(secret.encode(), user_id.encode(), hashlib.sha512).hexdigest()
        self.assertEqual(make_token(secret, user_id), expected)
        self.assertEqual(len(expected), TOKEN_LENGTH)

    def test_verify(self) -> None:
        token = make_token(KNOWN_SECRET, KNOWN_USER)
        secrets = [KNOWN_SECRET.encode()]
        self.assertTrue(verify_token(secrets, KNOWN_USER, token))
        self.assertFalse(verify_token(secrets, "@bob:example.org", token))
        self.assertFalse(verify_token([b"other"], KNOWN_USER, token))
        self.assertFalse(verify_token(secrets, KNOWN_USER, token.upper()))
        self.assertFalse(verify_token(secrets, KNOWN_USER, token + "\n"))
        self.assertFalse(verify_token(secrets, KNOWN_USER, token[:-1]))
        self.assertFalse(verify_token([], KNOWN_USER, token))

    def test_any_of_several_secrets(self) -> None:
        old, new = b"old secret", b"new secret"
        for secret in (old, new):
            token = make_token(secret.decode(), KNOWN_USER)
            self.assertTrue(verify_token([old, new], KNOWN_USER, token))
            self.assertFalse(verify_token([b"third"], KNOWN_USER, token))

    def test_shape(self) -> None:
        self.assertTrue(is_token_shaped("0" * 128))
        for value in ("0" * 127, "0" * 129, "g" * 128, "A" * 128, " " * 128, 0, None, b"0" * 128):
            self.assertFalse(is_token_shaped(value), value)

    def test_lone_surrogate_user_id(self) -> None:
        self.assertFalse(verify_token([b"s"], "@\ud800:example.org", "0" * 128))


class TokenProperties(unittest.TestCase):
    @settings(max_examples=300)
    @given(secrets=SECRETS, user_id=st.text(), token=JSON_VALUES)
    def test_never_raises_and_accepts_only_the_exact_token(
        self, secrets: list[bytes], user_id: str, token: object
    ) -> None:
        try:
            message = user_id.encode("utf-8")
        except UnicodeEncodeError:
            message = None
        expected = (
            {hmac.new(s, message, hashlib.sha512).hexdigest() for s in secrets}
            if message is not None
            else set()
        )
        self.assertEqual(
            verify_token(secrets, user_id, token), isinstance(token, str) and token in expected
        )

    @settings(max_examples=300)
    @given(
        secrets=SECRETS,
        user_id=st.text(),
        index=st.integers(0, TOKEN_LENGTH - 1),
        char=st.sampled_from("0123456789abcdef"),
    )
    def test_one_changed_digit_is_refused(
        self, secrets: list[bytes], user_id: str, index: int, char: str
    ) -> None:
        try:
            message = user_id.encode("utf-8")
        except UnicodeEncodeError:
            return
        token = hmac.new(secrets[0], message, hashlib.sha512).hexdigest()
        self.assertTrue(verify_token(secrets, user_id, token))
        changed = token[:index] + char + token[index + 1 :]
        valid = {hmac.new(s, message, hashlib.sha512).hexdigest() for s in secrets}
        self.assertEqual(verify_token(secrets, user_id, changed), changed in valid)

    @given(st.text(max_size=300))
    def test_bridges_format_round_trips_through_json(self, user_id: str) -> None:
        try:
            token = make_token(KNOWN_SECRET, user_id)
        except UnicodeEncodeError:
            return
        wire = json.loads(json.dumps({"token": token}))["token"]
        self.assertTrue(verify_token([KNOWN_SECRET.encode()], user_id, wire))


class MatchingSecretTests(unittest.TestCase):
    def test_index_of_the_secret_that_made_the_token(self) -> None:
        secrets = [b"first secret", b"second secret", b"third secret"]
        for index, secret in enumerate(secrets):
            token = make_token(secret.decode(), KNOWN_USER)
            self.assertEqual(matching_secret(secrets, KNOWN_USER, token), index)
        self.assertIsNone(matching_secret(secrets, KNOWN_USER, make_token("other", KNOWN_USER)))
        self.assertIsNone(matching_secret(secrets, KNOWN_USER, None))

    def test_same_secret_twice_still_matches(self) -> None:
        token = make_token("s", KNOWN_USER)
        self.assertIsNotNone(matching_secret([b"s", b"s"], KNOWN_USER, token))


class SecretFingerprintTests(unittest.TestCase):
    def test_known_answer_and_shape(self) -> None:
        expected = hmac.new(
            b"secret", b"synapse_dp_auth secret fingerprint v1", hashlib.sha256
        ).hexdigest()[:8]
        self.assertEqual(secret_fingerprint(b"secret"), expected)
        self.assertRegex(secret_fingerprint("ünïcödé".encode()), "^[0-9a-f]{8}$")
        self.assertNotEqual(secret_fingerprint(b"secret"), secret_fingerprint(b"secret "))

    def test_not_part_of_any_token(self) -> None:
        """The fingerprint is not a prefix of the secret's token for its own label or any user."""
        fingerprint = secret_fingerprint(KNOWN_SECRET.encode())
        self.assertFalse(make_token(KNOWN_SECRET, KNOWN_USER).startswith(fingerprint))
        label = "synapse_dp_auth secret fingerprint v1"
        self.assertFalse(make_token(KNOWN_SECRET, label).startswith(fingerprint))
