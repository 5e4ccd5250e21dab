#!/usr/bin/env python3
"""Signs a staff member in the way a person does, for the scripts in bench/ and ci/.

usage: staff_login.py BASE_URL EMAIL PASSWORD [FIELD]

Prints FIELD (default access_token) of the login answer; sends $DEVICE_TOKEN, when set, as the
device token of an earlier sign-in (SPEC §12.2). At the first sign-in of an account
without a second factor the server answers an enrolment token (SPEC §12.1): this enrols a TOTP
secret with it, confirms it with a current code, and signs in again with the next code. The
secret and the last time step used are kept in $TOTP_STATE_DIR (default: a folder under /tmp),
one file per account, so later calls compute codes the server has not seen yet. RFC 6238 with
the standard library only (hmac, hashlib, base64). Exits 1, printing nothing, on any failure.
"""

import base64
import hashlib
import hmac
import json
import os
import struct
import sys
import tempfile
import time
import urllib.error
import urllib.request

STEP = 30


def code_at(secret: bytes, step: int) -> str:
    digest = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return "%06d" % (value % 1_000_000)


def now_step() -> int:
    return int(time.time()) // STEP


def main() -> int:
    base, email, password = sys.argv[1:4]
    field = sys.argv[4] if len(sys.argv) > 4 else "access_token"
    state_dir = os.environ.get("TOTP_STATE_DIR") or os.path.join(tempfile.gettempdir(), "tipline-totp-%d" % os.getuid())
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    state_file = os.path.join(state_dir, hashlib.sha256((base + " " + email).encode()).hexdigest())

    def post(path, body, token=None):
        request = urllib.request.Request(
            base.rstrip("/") + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        if token:
            request.add_header("Authorization", "Bearer " + token)
        # A full hashing queue answers 503 with Retry-After (SPEC §12.3): wait and retry, up to
        # 10 times, noting each 503 in $LOGIN_503_FILE when it is set.
        for _ in range(10):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return json.load(response)
            except urllib.error.HTTPError as error:
                if error.code != 503:
                    raise
                if os.environ.get("LOGIN_503_FILE"):
                    with open(os.environ["LOGIN_503_FILE"], "a") as f:
                        f.write("1\n")
                time.sleep(float(error.headers.get("Retry-After") or 1))
        raise OSError("the service stayed busy")

    def load():
        try:
            with open(state_file) as f:
                secret, last = f.read().split()
            return base64.b32decode(secret), int(last)
        except (OSError, ValueError):
            return None

    def save(secret: bytes, last: int):
        with open(state_file, "w") as f:
            f.write("%s %d" % (base64.b32encode(secret).decode(), last))

    def login():
        body = {"email": email, "password": password}
        if os.environ.get("DEVICE_TOKEN"):
            body["device_token"] = os.environ["DEVICE_TOKEN"]
        known = load()
        if known:
            secret, last = known
            step = max(last + 1, now_step())
            while step > now_step() + 1:
                time.sleep(1)
            body["totp"] = code_at(secret, step)
            save(secret, step)
        return post("/api/v1/auth/login", body)

    try:
        answer = login()
    except urllib.error.HTTPError as error:
        # A secret kept from an earlier server (or reset by an admin since): start over.
        if error.code != 401 or load() is None:
            raise
        os.remove(state_file)
        answer = login()
    if "enrolment_token" in answer:
        token = answer["enrolment_token"]
        secret = base64.b32decode(post("/api/v1/me/totp", {}, token)["secret"])
        step = now_step()
        post("/api/v1/me/totp/confirm", {"code": code_at(secret, step)}, token)
        save(secret, step)
        answer = login()
    value = answer.get(field)
    if not value:
        return 1
    print(value)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        sys.exit(1)
