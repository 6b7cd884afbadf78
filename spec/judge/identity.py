#!/usr/bin/python3
"""The sign-in judge in Python: Microsoft's identity libraries as Debian packages them (python3-azure's
azure-identity, python3-msal), used the way their users use them, against a running vpptoken-sandbox.
spec/judge_identity_spec.lua starts the sandbox over HTTPS with an apps file, writes the judges' configuration (the
same file identity.js reads), runs this script and asserts on what it prints.

    /usr/bin/python3 identity.py CONFIG.json    (the sandbox's certificate trusted through REQUESTS_CA_BUNDLE)

Each check gets a token for config["scope"] with the authority pointed at the sandbox and instance discovery off (or
the managed identity endpoints at the sandbox), then lists vppTokens on the sandbox's Graph with it. Prints one JSON
object on stdout: for each check (a key), what it saw: never a token or a secret, only the claims that say whom a
token is for, and the requests the library sent ("METHOD /path STATUS", with the grant type of a token request). It
never decides pass or fail itself: the spec does. It exits 0 when it could report, 1 (with the reason on stderr)
when not. Run it in a loopback-only network namespace: nothing here may reach Microsoft's hosts or 169.254.169.254.
"""
import base64
import hashlib
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request

import requests
import msal
from azure.identity import (CertificateCredential, ClientSecretCredential, DeviceCodeCredential,
                            ManagedIdentityCredential)

COLL = "/v1.0/deviceAppManagement/vppTokens"
# Every request is bounded: MSAL and azure-core are given this timeout, the judge's own calls too.
TIMEOUT = 60
# What the environment may hold that would change which managed identity source azure-identity picks.
MSI_ENV = ["IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT",
           "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST", "AZURE_CLIENT_ID", "AZURE_TENANT_ID",
           "AZURE_FEDERATED_TOKEN_FILE"]

if len(sys.argv) != 2:
    sys.stderr.write("usage: python3 identity.py CONFIG.json\n")
    sys.exit(2)
with open(sys.argv[1], encoding="utf-8") as f:
    config = json.load(f)
BASE = config["base"]
if not BASE.startswith("https://") or "/" in BASE[len("https://"):]:
    sys.stderr.write("identity.py: base must be https://HOST:PORT\n")
    sys.exit(2)
TENANT, SCOPE = config["tenant"], config["scope"]
AUTHORITY = BASE + "/" + TENANT
TLS = ssl.create_default_context(cafile=os.environ.get("REQUESTS_CA_BUNDLE"))

# A spy on requests.Session.send, which MSAL and azure-core send every request through (the judge's own calls go
# through urllib): it notes "METHOD /path STATUS" (and the grant type of a token request), so the spec sees which
# endpoints the library used; a request to any other host is noted with its URL, and one that failed too.
SEEN = []
_send = requests.Session.send


def _spied(self, request, **kwargs):
    url = urllib.parse.urlsplit(request.url)
    where = url.path if url.scheme + "://" + url.netloc == BASE else request.url
    try:
        response = _send(self, request, **kwargs)
    except Exception as e:
        SEEN.append("%s %s failed: %s" % (request.method, where, type(e).__name__))
        raise
    note = "%s %s %d" % (request.method, where, response.status_code)
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    if isinstance(body, str) and "grant_type=" in body:
        note += " " + urllib.parse.parse_qs(body).get("grant_type", ["?"])[0]
    SEEN.append(note)
    return response


requests.Session.send = _spied


def control(method, path, body=None):
    """The sandbox's control routes, with urllib (not the libraries under judgement)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + "/_sandbox/" + path, data=data, method=method,
                                 headers={} if body is None else {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=TIMEOUT, context=TLS) as res:
        text = res.read().decode()
    return json.loads(text) if text else None


def claims_of(token):
    """The claims of a compact JWT that say whom it is for (no verification: the sandbox's Graph does that)."""
    part = token.split(".")[1]
    c = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return {k: c.get(k) for k in ("aud", "tid", "appid", "idtyp", "roles", "scp", "upn")}


def graph_status(token):
    req = urllib.request.Request(BASE + COLL, headers={"authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT, context=TLS) as res:
            return res.status
    except urllib.error.HTTPError as e:
        return e.code


def failure(e):
    return {"name": type(e).__name__, "message": str(e)}


def report(token, expires_on):
    return {"expires_in_future": expires_on > time.time(), "claims": claims_of(token),
            "graph_status": graph_status(token)}


def with_azure(credential):
    """A token from an azure-identity credential, and what the sandbox's Graph says to it."""
    t = credential.get_token(SCOPE)
    return report(t.token, t.expires_on)


def with_msal(result):
    """An MSAL result dict: the token's report, or MSAL's error."""
    if "access_token" not in result:
        return {"error": {"name": result.get("error"), "message": result.get("error_description")}}
    out = report(result["access_token"], time.time() + int(result.get("expires_in", 0)))
    out["token_type"] = result.get("token_type")
    return out


def pem_parts(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    cert = text[text.index("-----BEGIN CERTIFICATE-----"):text.index("-----END CERTIFICATE-----") + 25]
    key = text[text.index("-----BEGIN PRIVATE KEY-----"):text.index("-----END PRIVATE KEY-----") + 25]
    der = base64.b64decode("".join(cert.splitlines()[1:-1]))
    return cert, key, hashlib.sha1(der).hexdigest().upper()


def approve_once_polled(user_code, done):
    """The person: waits until the code was polled once, then approves it (gives up when done is set)."""
    deadline = time.time() + TIMEOUT
    while not done.is_set() and time.time() < deadline:
        codes = control("GET", "devicecode")["value"]
        if any(c["user_code"] == user_code and c["polls"] >= 1 for c in codes):
            control("POST", "devicecode/approve", {"user_code": user_code, "upn": config["device"]["upn"]})
            return
        time.sleep(0.1)


def clear_msi_env():
    for k in MSI_ENV:
        os.environ.pop(k, None)


def check_msal_secret():
    c = config["secret"]
    app = msal.ConfidentialClientApplication(c["client_id"], client_credential=c["client_secret"],
                                             authority=AUTHORITY, instance_discovery=False, timeout=TIMEOUT)
    return with_msal(app.acquire_token_for_client([SCOPE]))


def check_msal_certificate():
    c = config["certificate"]
    cert, key, thumbprint = pem_parts(c["pem"])
    app = msal.ConfidentialClientApplication(
        c["client_id"], client_credential={"private_key": key, "thumbprint": thumbprint, "public_certificate": cert},
        authority=AUTHORITY, instance_discovery=False, timeout=TIMEOUT)
    return with_msal(app.acquire_token_for_client([SCOPE]))


def check_client_secret():
    c = config["secret"]
    return with_azure(ClientSecretCredential(TENANT, c["client_id"], c["client_secret"], authority=BASE,
                                             instance_discovery=False))


def check_client_certificate():
    c = config["certificate"]
    return with_azure(CertificateCredential(TENANT, c["client_id"], certificate_path=c["pem"], authority=BASE,
                                            instance_discovery=False))


def check_managed_app_service():
    """App Service, Functions, Container Apps: IDENTITY_ENDPOINT + IDENTITY_HEADER, the system-assigned identity."""
    clear_msi_env()
    os.environ["IDENTITY_ENDPOINT"] = BASE + "/msi/token"
    os.environ["IDENTITY_HEADER"] = config["managed"]["identity_header"]
    try:
        return with_azure(ManagedIdentityCredential())
    finally:
        clear_msi_env()


def check_managed_imds():
    """A VM's IMDS at the host in AZURE_POD_IDENTITY_AUTHORITY_HOST, for a user-assigned identity (its client id)."""
    clear_msi_env()
    os.environ["AZURE_POD_IDENTITY_AUTHORITY_HOST"] = BASE
    try:
        return with_azure(ManagedIdentityCredential(client_id=config["managed"]["user_client_id"]))
    finally:
        clear_msi_env()


def check_device_code():
    """A person at a terminal with azure-identity's DeviceCodeCredential: the prompt callback gets the code."""
    control("POST", "devicecode/settings", {"interval": 1})
    prompts, done, people = [], threading.Event(), []

    def prompt(verification_uri, user_code, expires_on):
        prompts.append({"verification_uri": verification_uri, "user_code_given": bool(user_code),
                        "expires_in_future": expires_on.timestamp() > time.time()})
        person = threading.Thread(target=approve_once_polled, args=(user_code, done), daemon=True)
        person.start()
        people.append(person)

    credential = DeviceCodeCredential(config["device"]["client_id"], tenant_id=TENANT, authority=BASE,
                                      instance_discovery=False, prompt_callback=prompt, timeout=TIMEOUT)
    try:
        out = with_azure(credential)
    finally:
        done.set()
        for p in people:
            p.join(TIMEOUT)
    out["prompts"] = prompts
    return out


def check_refresh():
    """MSAL's device flow for a person, then a forced silent renewal: the refresh token grant."""
    control("POST", "devicecode/settings", {"interval": 1})
    app = msal.PublicClientApplication(config["device"]["client_id"], authority=AUTHORITY, instance_discovery=False,
                                       timeout=TIMEOUT)
    flow = app.initiate_device_flow(scopes=[SCOPE])
    if "user_code" not in flow:
        return {"error": {"name": flow.get("error"), "message": flow.get("error_description")}}
    done = threading.Event()
    person = threading.Thread(target=approve_once_polled, args=(flow["user_code"], done), daemon=True)
    person.start()
    flow["expires_at"] = min(flow["expires_at"], time.time() + TIMEOUT)
    first = app.acquire_token_by_device_flow(flow)
    done.set()
    person.join(TIMEOUT)
    out = {"first": with_msal(first), "has_refresh_token": "refresh_token" in first}
    accounts = app.get_accounts()
    out["accounts"] = len(accounts)
    renewed = app.acquire_token_silent([SCOPE], account=accounts[0], force_refresh=True) if accounts else None
    out["renewed"] = with_msal(renewed) if renewed else {"error": {"name": "no_token", "message": "silent gave None"}}
    out["renewed_differs"] = bool(renewed) and renewed.get("access_token") != first.get("access_token")
    return out


CHECKS = {"msal_secret": check_msal_secret, "msal_certificate": check_msal_certificate,
          "client_secret": check_client_secret, "client_certificate": check_client_certificate,
          "managed_app_service": check_managed_app_service, "managed_imds": check_managed_imds,
          "device_code": check_device_code, "refresh": check_refresh}


def main():
    result = {"python": sys.version.split()[0], "msal": msal.__version__}
    only = os.environ["JUDGE_ONLY"].split(",") if os.environ.get("JUDGE_ONLY") else list(CHECKS)
    for name in only:
        try:
            result[name] = CHECKS[name]()
        except Exception as e:  # pylint: disable=broad-except
            result[name] = {"threw": failure(e)}
        result[name]["requests"] = SEEN[:]
        SEEN.clear()
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # pylint: disable=broad-except
        sys.stderr.write("identity.py: %r\n" % (e,))
        sys.exit(1)
