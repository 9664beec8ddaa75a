#!/usr/bin/env python3
"""The Python SDK compatibility harness (stdlib only).

Runs one scenario (argv[1]) against privgate through the PrivX Python SDK, found through
PRIVX_SDK_PYTHON_DIR. Prints one JSON line per step; `harness.py list` prints the scenario
names. Driven by scripts/compat.mjs, which passes the server, CA and API client in COMPAT_* vars.
"""
import json
import os
import ssl
import sys
import time
import urllib.request

SCENARIOS = {}


def scenario(name):
    def register(fn):
        SCENARIOS[name] = fn
        return fn

    return register


def unique(prefix):
    return "%s-%d" % (prefix, time.time_ns() % 1_000_000_000)


def normalise(value):
    # A zero value and a missing field are alike (PrivX's Go structs omit empty fields).
    if value is None or value is False or value == "" or value == [] or value == {}:
        return "null"
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        value = sorted(value)
    return json.dumps(value, sort_keys=True)


def compare(wrote, read, keys):
    """Drift of `keys` between the object written and the object read back."""
    drift = []
    for key in keys:
        got = read.get(key) if isinstance(read, dict) else None
        if normalise(wrote.get(key)) != normalise(got):
            drift.append({"field": key, "wrote": wrote.get(key), "read": got})
    return drift


def non_empty(read, key):
    if not (isinstance(read, dict) and read.get(key)):
        return [{"field": key, "wrote": "(set by the server)", "read": read.get(key) if isinstance(read, dict) else None}]
    return []


class StepFailed(Exception):
    pass


class Harness:
    def __init__(self, name):
        self.name = name
        self.failed = False
        self.base = os.environ["COMPAT_BASE_URL"]
        with open(os.environ["COMPAT_CA_FILE"]) as handle:
            self.ca = handle.read()
        with open(os.environ["COMPAT_API_CLIENT_FILE"]) as handle:
            self.creds = json.load(handle)
        self.context = ssl.create_default_context(cadata=self.ca)
        host, port = self.base.split("//", 1)[1].rsplit(":", 1)
        sys.path.insert(0, os.environ["PRIVX_SDK_PYTHON_DIR"])
        from privx_api.privx_api import PrivXAPI  # noqa: E402 (the SDK is found at run time)

        self.api = PrivXAPI(host, int(port), self.ca, self.creds["oauth_client_id"], self.creds["oauth_client_secret"])

    def mark(self, step):
        body = json.dumps({"sdk": "python", "scenario": self.name, "step": step}).encode()
        request = urllib.request.Request(self.base + "/__compat/step", data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            urllib.request.urlopen(request, context=self.context).close()
        except Exception as error:  # the marker only attributes calls; the step still runs
            print("harness: marking step %s: %s" % (step, error), file=sys.stderr)

    def step(self, step, call, run):
        """Runs `run`, which returns a drift list or raises StepFailed; prints the result."""
        self.mark(step)
        result = {"sdk": "python", "scenario": self.name, "step": step, "call": call, "ok": True}
        value = None
        try:
            value = run()
            drift = value[0] if isinstance(value, tuple) else value
            if drift:
                result["ok"] = False
                result["drift"] = drift
        except StepFailed as error:
            result["ok"] = False
            result["error"] = str(error)
        except Exception as error:  # an SDK exception or a decode error
            result["ok"] = False
            result["error"] = "%s: %s" % (type(error).__name__, error)
        if not result["ok"]:
            self.failed = True
        print(json.dumps(result), flush=True)
        return result["ok"] or "drift" in result

    def skip(self, step, call, reason):
        self.failed = True
        print(json.dumps({"sdk": "python", "scenario": self.name, "step": step, "call": call, "ok": False, "error": "skipped: " + reason}), flush=True)


def expect(response, what):
    """The SDK's own verdict: `ok` is whether the status is the one PrivX answers."""
    if not response.ok:
        raise StepFailed("%s: status %s (the SDK expects another), body %s" % (what, response.status, json.dumps(response.data)[:300]))
    return response.data


def expect_gone(response):
    if response.ok:
        raise StepFailed("the object can still be read after delete")
    if response.status != 404:
        raise StepFailed("reading a deleted object: want 404, got %s" % response.status)
    return []


def crud(h, kind, create, read, update, delete, body, changes, keys):
    """create → read → update → read → delete → read (expect 404), comparing `keys`."""
    state = {}

    def do_create():
        data = expect(create(body), "create")
        if not isinstance(data, dict) or not data.get("id"):
            raise StepFailed("create answered no id: %s" % json.dumps(data)[:200])
        state["id"] = data["id"]
        return []

    if not h.step("create", kind + ".create", do_create):
        h.skip("read", kind + ".get", "create failed")
        return
    object_id = state["id"]

    def do_read():
        data = expect(read(object_id), "read")
        state["current"] = data
        return compare(body, data, keys) + compare({"id": object_id}, data, ["id"])

    h.step("read", kind + ".get", do_read)
    updated = dict(state.get("current") or body)
    updated.update(changes)
    h.step("update", kind + ".update", lambda: (expect(update(object_id, updated), "update"), [])[1])

    def do_read_updated():
        data = expect(read(object_id), "read")
        return compare(updated, data, keys)

    h.step("read after update", kind + ".get", do_read_updated)
    h.step("delete", kind + ".delete", lambda: (expect(delete(object_id), "delete"), [])[1])
    h.step("read after delete", kind + ".get", lambda: expect_gone(read(object_id)))


def authenticate(h):
    def run():
        h.api.authenticate(h.creds["id"], h.creds["secret"])
        return []

    return h.step("authenticate", "authenticate", run)


def default_access_group(h):
    found = {}

    def run():
        data = expect(h.api.get_access_groups(), "list access groups")
        for group in data.get("items") or []:
            if group.get("default"):
                found["id"] = group["id"]
                return []
        raise StepFailed("no access group has default=true")

    h.step("setup: default access group", "get_access_groups", run)
    return found.get("id", "00000000-0000-4000-8000-0000000000a9")


def admin_role(h):
    found = {}

    def run():
        data = expect(h.api.resolve_roles(["privx-admin"]), "resolve privx-admin")
        items = data.get("items") or []
        if len(items) != 1:
            raise StepFailed("resolving privx-admin: want 1 role, got %d" % len(items))
        found["id"], found["name"] = items[0]["id"], items[0]["name"]
        return []

    h.step("setup: resolve privx-admin", "resolve_roles", run)
    if not found:
        # So that the rest of the scenario still runs; the failed step above still fails it.
        def fallback():
            data = expect(h.api.get_roles(), "list roles")
            for role in data.get("items") or []:
                if role.get("name") == "privx-admin":
                    found["id"], found["name"] = role["id"], role["name"]
                    return []
            raise StepFailed("no role named privx-admin listed")

        h.step("setup: find privx-admin in the role list (fallback)", "get_roles", fallback)
    return found


def user_extras(h, user_id, username):
    """The list filtered by username, and roles assigned the PrivX way (role store)."""
    api = h.api

    def by_username():
        data = expect(api.get_users(username=username), "list by username")
        return compare({"count": 1, "ids": [user_id]}, {"count": data.get("count"), "ids": [u.get("id") for u in data.get("items") or []]}, ["count", "ids"])

    h.step("list by username", "user_store.get_users", by_username)
    found = {}

    def find_user_role():
        for role in expect(api.get_roles(), "list roles").get("items") or []:
            if role.get("name") == "privx-user":
                found["role"] = role
                return []
        raise StepFailed("no role named privx-user listed")

    if not h.step("roles: setup: find privx-user", "role_store.get_roles", find_user_role) or "role" not in found:
        return
    role = found["role"]
    h.step("roles: set", "role_store.set_user_roles", lambda: (expect(api.set_user_roles(user_id, [{"id": role["id"], "name": role["name"]}]), "set roles"), [])[1])

    def read_roles():
        data = expect(api.get_user_roles(user_id), "get roles")
        return compare({"ids": [role["id"]]}, {"ids": [r.get("id") for r in data.get("items") or []]}, ["ids"])

    h.step("roles: read", "role_store.get_user_roles", read_roles)

    def read_user():
        data = expect(api.get_user(user_id), "role store user")
        return compare({"principal": username, "ids": [role["id"]]}, {"principal": data.get("principal"), "ids": [r.get("id") for r in data.get("roles") or []]}, ["principal", "ids"])

    h.step("roles: role store user", "role_store.get_user", read_user)

    def search():
        data = expect(api.search_users(search_payload={"keywords": username}), "search users")
        return compare({"ids": [user_id]}, {"ids": [u.get("id") for u in data.get("items") or []]}, ["ids"])

    h.step("search users", "role_store.search_users", search)
    h.step("roles: remove", "role_store.set_user_roles", lambda: (expect(api.set_user_roles(user_id, []), "remove roles"), [])[1])


@scenario("users")
def users(h):
    from privx_api.user_store import UserStoreAPI  # PrivXAPI.get_user is the role store's

    api = h.api
    name = unique("compat-py-user")
    body = {
        "username": name,
        "full_name": "Compat Py",
        "first_name": "Compat",
        "last_name": "Py",
        "email": name + "@example.com",
        "job_title": "Tester",
        "company": "Example",
        "department": "QA",
        "telephone": "+358 40 000 0002",
        "locale": "en",
        "unix_account": "compatpy",
        "windows_account": "compatpy",
        "tags": ["compat"],
        "password": {"password": "Initial-Passw0rd-compat!"},
        "password_change_required": False,
    }
    keys = [k for k in body if k != "password"]
    crud(
        h,
        "user_store.user",
        api.create_user,
        lambda i: UserStoreAPI.get_user(api, i),
        lambda i, b: UserStoreAPI.update_user(api, i, {k: v for k, v in b.items() if k != "password"}),
        lambda i: UserStoreAPI.delete_user(api, i),
        body,
        {"full_name": "Compat Py Renamed", "tags": ["compat", "renamed"], "password_change_required": True, "locale": "fi"},
        keys,
    )
    state = {}

    def setup():
        state["username"] = unique("compat-py-pw")
        data = expect(api.create_user({"username": state["username"], "full_name": "Compat Py Password"}), "create user")
        state["id"] = data.get("id")
        return []

    if h.step("password: setup user", "user_store.create_user", setup) and state.get("id"):
        h.step("password: set", "user_store.set_user_password", lambda: (expect(api.set_user_password(state["id"], {"password": "Second-Passw0rd-compat!"}), "set password"), [])[1])
        user_extras(h, state["id"], state["username"])
        h.step("password: cleanup", "user_store.delete_user", lambda: (expect(UserStoreAPI.delete_user(api, state["id"]), "delete user"), [])[1])


@scenario("roles")
def roles(h):
    api = h.api
    ag = default_access_group(h)
    body = {
        "name": unique("compat-py-role"),
        "comment": "created by the Python SDK compatibility suite",
        "access_group_id": ag,
        "permissions": ["users-view"],
        "permit_agent": False,
        "source_rules": {"type": "GROUP", "match": "ANY", "rules": []},
    }
    crud(
        h, "role_store.role", api.create_role, api.get_role, api.update_role, api.delete_role, body,
        {"comment": "updated", "permissions": ["users-view", "hosts-view"]},
        list(body.keys()),
    )

    def resolve():
        data = expect(api.resolve_roles(["privx-admin"]), "resolve")
        items = data.get("items") or []
        if len(items) != 1:
            raise StepFailed("want 1 role named privx-admin, got %d" % len(items))
        return compare({"name": "privx-admin"}, items[0], ["name"])

    h.step("resolve by name", "role_store.resolve_roles", resolve)


@scenario("role_store")
def role_store(h):
    """Role-store calls beyond the provider's: contextual limit, paging, search, members, principal keys."""
    api = h.api
    group = {}

    def setup():
        # A role names an existing access group: make one first, as an admin would.
        group["id"] = expect(api.create_access_group({"name": unique("compat-py-rolestore-group")}), "setup")["id"]
        return []

    if not h.step("setup: create access group", "authorizer.create_access_group", setup):
        h.skip("create", "role_store.create_role", "setup failed")
        return
    body = {
        "name": unique("compat-py-rolestore"),
        "access_group_id": group["id"],
        "permissions": ["hosts-view"],
        "tags": ["compat"],
        "context": {"enabled": True, "validity": ["wed"], "start_time": "09:00", "end_time": "10:00", "timezone": "UTC", "ip_masks": ["192.0.2.0/24"]},
        "source_rules": {"type": "GROUP", "match": "ANY", "rules": []},
    }
    state = {}

    def create():
        state["id"] = expect(api.create_role(body), "create").get("id")
        return []

    if not h.step("create", "role_store.create_role", create):
        h.skip("read", "role_store.get_role", "create failed")
        return
    role_id = state["id"]
    h.step("read", "role_store.get_role", lambda: compare(body, expect(api.get_role(role_id), "read"), list(body.keys())))

    def page():
        data = expect(api.get_roles(offset=0, limit=1, sort_key="name", sort_dir="asc"), "list")
        if len(data.get("items") or []) != 1 or data.get("count", 0) < 3:
            raise StepFailed("limit=1: want 1 item of at least 3, got %d of %s" % (len(data.get("items") or []), data.get("count")))
        return []

    h.step("list with limit 1", "role_store.get_roles", page)

    def search():
        data = expect(api.search_roles(limit=10, search_payload={"name": [body["name"]]}), "search")
        items = data.get("items") or []
        if len(items) != 1 or items[0].get("id") != role_id:
            raise StepFailed("want exactly the created role, got %d" % len(items))
        return []

    h.step("search by name", "role_store.search_roles", search)
    h.step("members", "role_store.get_role_members", lambda: compare({"count": 0}, expect(api.get_role_members(role_id, offset=0, limit=5), "members"), ["count"]))

    def generate():
        state["key"] = expect(api.generate_principal_key(role_id), "generate").get("id")
        return []

    if h.step("principal key: generate", "role_store.generate_principal_key", generate):
        def listed():
            items = expect(api.get_principal_keys(role_id), "list keys").get("items") or []
            if [item.get("id") for item in items] != [state["key"]] or not items[0].get("public_key", "").startswith("ssh-rsa "):
                raise StepFailed("want the generated ssh-rsa key listed, got %r" % items)
            if "private" in json.dumps(items).lower():
                raise StepFailed("a private key field was returned")
            return []

        h.step("principal key: list", "role_store.get_principal_keys", listed)
    h.step("delete", "role_store.delete_role", lambda: (expect(api.delete_role(role_id), "delete"), [])[1])


@scenario("access_groups")
def access_groups(h):
    api = h.api
    body = {"name": unique("compat-py-ag"), "comment": "created by the Python SDK compatibility suite"}
    crud(
        h, "authorizer.access_group", api.create_access_group, api.get_access_group, api.update_access_group,
        api.delete_access_group, body, {"name": body["name"] + "-renamed", "comment": "updated"}, ["name", "comment"],
    )
    h.step("list", "authorizer.get_access_groups", lambda: (expect(api.get_access_groups(), "list"), [])[1])

    # Search and CA-key rotation on a second group (the CRUD above deleted the first).
    name = unique("compat-py-ag-ca")
    state = {}

    def setup():
        state["id"] = expect(api.create_access_group({"name": name, "comment": "CA keys"}), "create")["id"]
        return []

    if not h.step("setup: create access group", "authorizer.create_access_group", setup):
        return
    group_id = state["id"]

    def search():
        data = expect(api.search_access_groups(access_group_params={"keywords": name}), "search")
        ids = [item.get("id") for item in data.get("items") or []]
        if ids != [group_id] or data.get("count") != 1:
            raise StepFailed("searching for %s found %s (count %s)" % (name, ids, data.get("count")))
        return []

    h.step("search (keywords)", "authorizer.search_access_groups", search)

    def renew():
        ca_id = expect(api.get_access_group_CA_key(group_id), "renew CA key")
        if not isinstance(ca_id, str) or not ca_id:
            raise StepFailed("renewal answered %s, want the new CA id" % json.dumps(ca_id)[:200])
        state["ca"] = ca_id
        return []

    if h.step("renew CA key", "authorizer.get_access_group_CA_key", renew):
        def listed():
            cas = expect(api.get_authorizer_cert(access_group_id=group_id), "list CAs")
            if state["ca"] not in [ca.get("id") for ca in cas]:
                raise StepFailed("the renewed CA is not among the group's CAs")
            return []

        h.step("list CAs of the group", "authorizer.get_authorizer_cert", listed)
        h.step("revoke CA key", "authorizer.delete_access_group_CA_key",
               lambda: (expect(api.delete_access_group_CA_key(group_id, state["ca"]), "revoke CA key"), [])[1])
    h.step("cleanup: delete access group", "authorizer.delete_access_group",
           lambda: (expect(api.delete_access_group(group_id), "delete"), [])[1])


@scenario("api_clients")
def api_clients(h):
    api = h.api
    admin = admin_role(h)
    roles_of = lambda data: sorted(role.get("id") for role in (data.get("roles") or []))  # noqa: E731
    body = {"name": unique("compat-py-api-client"), "roles": [{"id": admin.get("id", ""), "name": admin.get("name", "")}]}
    state = {}

    def create():
        data = expect(api.create_api_client(body), "create")
        if not data.get("id"):
            raise StepFailed("create answered no id")
        state["id"] = data["id"]
        return []

    if not h.step("create", "user_store.create_api_client", create):
        h.skip("read", "user_store.get_api_client", "create failed")
        return
    object_id = state["id"]

    def read():
        data = expect(api.get_api_client(object_id), "read")
        state["current"] = data
        drift = compare(body, data, ["name"]) + non_empty(data, "secret") + non_empty(data, "oauth_client_id") + non_empty(data, "oauth_client_secret")
        if roles_of(data) != roles_of(body):
            drift.append({"field": "roles[].id", "wrote": roles_of(body), "read": roles_of(data)})
        return drift

    h.step("read", "user_store.get_api_client", read)
    updated = dict(state.get("current") or body)
    updated["name"] = body["name"] + "-renamed"
    h.step("update", "user_store.update_api_client", lambda: (expect(api.update_api_client(object_id, updated), "update"), [])[1])
    h.step("read after update", "user_store.get_api_client", lambda: compare(updated, expect(api.get_api_client(object_id), "read"), ["name", "secret", "oauth_client_id"]))
    h.step("list", "user_store.get_api_clients", lambda: (expect(api.get_api_clients(), "list"), [])[1])
    h.step("delete", "user_store.delete_api_client", lambda: (expect(api.delete_api_client(object_id), "delete"), [])[1])
    h.step("read after delete", "user_store.get_api_client", lambda: expect_gone(api.get_api_client(object_id)))


@scenario("trusted_clients")
def trusted_clients(h):
    api = h.api
    body = {
        "type": "EXTENDER",
        "name": unique("compat-py-extender"),
        "enabled": True,
        "extender_address": ["192.0.2.30"],
        "subnets": ["192.0.2.0/24"],
        "routing_prefix": "",
        "extender_mode": "ssh",
        "extender_ssh_address": "extender.example.com",
        "extender_ssh_port": 2222,
        "web_proxy_extender_route_patterns": ["*.internal.example.com"],
    }
    crud(
        h, "user_store.trusted_client", api.create_trusted_client, api.get_trusted_client, api.update_trusted_client,
        api.delete_trusted_client, body, {"name": body["name"] + "-renamed", "subnets": ["198.51.100.0/24"], "routing_prefix": "py"},
        list(body.keys()),
    )
    h.step("list", "user_store.get_trusted_clients", lambda: (expect(api.get_trusted_clients(), "list"), [])[1])


def stream_bytes(response, what):
    if not response.ok:
        raise StepFailed("%s: status %s (the SDK expects another)" % (what, response.status))
    return b"".join(response.iter_content())


@scenario("component_configs")
def component_configs(h):
    """Carrier, extender and web-proxy config downloads and the component CAs, as the SDK fetches them."""
    api = h.api
    kinds = [
        ("carrier", {"type": "CARRIER", "permissions": ["privx-carrier"], "web_proxy_address": "10.0.0.10"},
         api.create_carrier_config_download_handle, api.download_carrier_config),
        ("extender", {"type": "EXTENDER", "permissions": ["privx-extender"], "extender_address": ["192.0.2.50"]},
         api.create_extender_config_download_handle, api.download_extender_config),
        ("web proxy", {"type": "ICAP", "permissions": ["privx-web-proxy"]},
         api.create_web_proxy_config_download_handle, api.download_web_proxy_config),
    ]
    for kind, body, open_session, download in kinds:
        state = {}
        client = dict(body, name=unique("compat-py-" + kind.replace(" ", "-")), enabled=True)

        def create(client=client, state=state):
            state["id"] = expect(api.create_trusted_client(client), "create")["id"]
            return []

        if not h.step("setup: create %s" % kind, "user_store.create_trusted_client", create):
            continue

        def session(open_session=open_session, state=state):
            state["session"] = expect(open_session(state["id"]), "config session").get("session_id")
            return [] if state["session"] else [{"field": "session_id", "wrote": "(set by the server)", "read": None}]

        h.step("%s config session" % kind, open_session.__name__, session)

        def fetch(download=download, state=state):
            content = stream_bytes(download(state["id"], state.get("session", "")), "download")
            if not content.strip():
                raise StepFailed("the downloaded config is empty")
            return []

        h.step("%s config download" % kind, download.__name__, fetch)
        h.step("cleanup: delete %s" % kind, "user_store.delete_trusted_client", lambda state=state: (expect(api.delete_trusted_client(state["id"]), "delete"), [])[1])

    for ca_type in ["extender", "icap"]:
        found = {}

        def certs(ca_type=ca_type, found=found):
            data = expect(api.get_component_certs(ca_type), "list %s CAs" % ca_type)
            if not isinstance(data, list) or not data:
                raise StepFailed("want a non-empty bare array of CAs, got %s" % json.dumps(data)[:200])
            found["id"] = data[0].get("id")
            return non_empty(data[0], "x509_certificate")

        if h.step("%s CAs" % ca_type, "authorizer.get_component_certs", certs):
            h.step("%s CA download" % ca_type, "authorizer.download_component_cert",
                   lambda ca_type=ca_type, found=found: (stream_bytes(api.download_component_cert(ca_type, found["id"]), "CA"), [])[1])
            h.step("%s CRL download" % ca_type, "authorizer.download_component_cert_crl",
                   lambda ca_type=ca_type, found=found: (stream_bytes(api.download_component_cert_crl(ca_type, found["id"]), "CRL"), [])[1])
    h.step("extender trust anchor", "authorizer.get_extender_trust_anchor", lambda: non_empty(expect(api.get_extender_trust_anchor(), "trust anchor"), "trust_anchor"))


@scenario("hosts")
def hosts(h):
    api = h.api
    ag = default_access_group(h)
    admin = admin_role(h)
    name = unique("compat-py-host")
    body = {
        "common_name": name,
        "external_id": name,
        "access_group_id": ag,
        "addresses": ["192.0.2.40"],
        "tags": ["compat"],
        "comment": "created by the Python SDK compatibility suite",
        "services": [{"service": "SSH", "address": "192.0.2.40", "port": 22, "source": "UI"}],
        "principals": [{"principal": "root", "source": "UI", "roles": [{"id": admin.get("id", ""), "name": admin.get("name", "")}]}],
    }
    crud(
        h, "host_store.host", api.create_host, api.get_host, api.update_host, api.delete_host, body,
        {"comment": "updated", "tags": ["compat", "updated"], "addresses": ["192.0.2.41"]},
        ["common_name", "external_id", "access_group_id", "addresses", "tags", "comment"],
    )


# --- whitelists ---
# (Kept above main(): a scenario registered after the `__main__` guard at the file's end would
# never run.)
@scenario("whitelists")
def whitelists(h):
    api = h.api
    name = unique("compat-py-whitelist")
    body = {"name": name, "comment": "created by the Python SDK compatibility suite", "type": "glob",
            "whitelist_patterns": ["ls -la", "systemctl status *"]}
    crud(
        h, "host_store.command_restriction_whitelist", api.create_command_restriction_whitelist,
        api.get_command_restriction_whitelist, api.update_command_restriction_whitelist,
        api.delete_command_restriction_whitelist, body,
        {"comment": "updated", "type": "regex", "whitelist_patterns": ["^git .*", "^docker .*"]},
        ["name", "comment", "type", "whitelist_patterns"],
    )

    listed = {"name": unique("compat-py-whitelist-list"), "type": "regex", "whitelist_patterns": ["uptime", "^df( -h)?$"]}
    state = {}

    def setup():
        data = expect(api.create_command_restriction_whitelist(listed), "create")
        state["id"] = data.get("id") if isinstance(data, dict) else None
        if not state["id"]:
            raise StepFailed("create answered no id: %s" % json.dumps(data)[:200])
        return []

    if not h.step("setup: create whitelist", "host_store.create_command_restriction_whitelist", setup):
        h.skip("list", "host_store.get_command_restriction_whitelists", "setup failed")
        return

    def find(data, what):
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list) or not isinstance(data.get("count"), int):
            raise StepFailed("%s: want {count, items}, got %s" % (what, json.dumps(data)[:200]))
        for item in items:
            if item.get("id") == state["id"]:
                return compare(listed, item, ["name", "type", "whitelist_patterns"])
        raise StepFailed("%s: the whitelist is not among %d items" % (what, len(items)))

    h.step("list", "host_store.get_command_restriction_whitelists",
           lambda: find(expect(api.get_command_restriction_whitelists(limit=1000, sort_dir="asc"), "list"), "list"))
    h.step("search (keywords)", "host_store.search_command_restriction_whitelists",
           lambda: find(expect(api.search_command_restriction_whitelists(limit=10, sort_key="name", sort_dir="asc",
                                                                         search_payload={"keywords": listed["name"]}), "search"), "search"))

    def evaluate():
        data = expect(api.eval_commands_against_whitelist(listed, "bash", ["uptime", "df -h", "rm -rf /"]), "evaluate")
        results = data.get("command_results") if isinstance(data, dict) else None
        got = [(item.get("command"), item.get("allowed")) for item in results or []]
        want = [("uptime", True), ("df -h", True), ("rm -rf /", False)]
        drift = [] if got == want else [{"field": "command_results", "wrote": want, "read": got}]
        patterns = [item.get("whitelist_pattern") for item in data.get("whitelist_pattern_results") or []]
        if patterns != listed["whitelist_patterns"]:
            drift.append({"field": "whitelist_pattern_results[].whitelist_pattern", "wrote": listed["whitelist_patterns"], "read": patterns})
        return drift

    h.step("evaluate", "host_store.eval_commands_against_whitelist", evaluate)
    h.step("cleanup: delete whitelist", "host_store.delete_command_restriction_whitelist",
           lambda: (expect(api.delete_command_restriction_whitelist(state["id"]), "delete"), [])[1])


# --- monitor ---
SDK_AUDIT_FIELDS = ["service_id", "service_name", "event_id", "event_name", "created", "message"]


@scenario("monitor")
def monitor(h):
    """Every monitor-service call of the Python SDK; termination is refused (405 NOT_ALLOWED)."""
    api = h.api
    name = unique("compat-py-monitor-group")
    state = {}

    def status():
        data = expect(api.get_monitor_service_status(), "status")
        return [] if data.get("status") == "ok" else [{"field": "status", "wrote": "ok", "read": data.get("status")}]

    h.step("status", "monitor.get_monitor_service_status", status)

    def setup():
        state["group"] = expect(api.create_access_group({"name": name, "comment": "audited"}), "create")["id"]
        return []

    h.step("setup: create access group", "authorizer.create_access_group", setup)

    def events():
        data = expect(api.get_audit_events(offset=0, limit=5, sort_dir="desc", fuzzy_count=True), "list")
        items = data.get("items") or []
        if not items or len(items) > 5 or data.get("count", 0) < len(items):
            raise StepFailed("want 1 to 5 events and count >= items, got %s" % json.dumps(data)[:300])
        created = [item.get("created", "") for item in items]
        if created != sorted(created, reverse=True):
            raise StepFailed("sortdir desc answered %s" % created)
        drift = []
        for item in items:
            for key in SDK_AUDIT_FIELDS:
                drift += non_empty(item, key)
            if not all(isinstance(value, str) for value in item.get("message", {}).values()):
                drift.append({"field": "message", "wrote": "a string map", "read": item.get("message")})
        return drift

    h.step("audit events", "monitor.get_audit_events", events)

    def search():
        data = expect(api.search_audit_events(limit=10, audit_event_params={"access_group_id": state.get("group", "")}), "search")
        items = data.get("items") or []
        if len(items) != 1:
            raise StepFailed("want the one event about the group, got %s" % json.dumps(data)[:300])
        state["event"] = items[0]
        return compare({"event_name": "ACCESS_GROUP_CREATED", "service_name": "authorizer"}, items[0], ["event_name", "service_name"])

    h.step("search by access group", "monitor.search_audit_events", search)

    def search_keywords():
        data = expect(api.search_audit_events(query=name, audit_event_params={"keywords": ""}), "search")
        if data.get("count") != 1:
            raise StepFailed("searching for %s found %s" % (name, json.dumps(data)[:300]))
        return []

    h.step("search by keywords (query)", "monitor.search_audit_events", search_keywords)

    def codes():
        data = expect(api.get_audit_event_codes(), "codes")
        event_id = state.get("event", {}).get("event_id", "")
        info = data.get(event_id) if isinstance(data, dict) else None
        if not info:
            raise StepFailed("no code %r in the code table" % event_id)
        return compare({"event_id": int(event_id), "event_name": state["event"].get("event_name")}, info, ["event_id", "event_name"])

    h.step("event codes", "monitor.get_audit_event_codes", codes)

    def components():
        data = expect(api.get_privx_components_status(), "components")
        mine = [item for item in data.get("items") or [] if item.get("this_node")]
        if len(mine) != 1:
            raise StepFailed("want this node among the components, got %s" % json.dumps(data)[:300])
        state["hostname"] = mine[0].get("hostname", "")
        return non_empty(mine[0], "hostname")

    h.step("components", "monitor.get_privx_components_status", components)
    h.step("component by hostname", "monitor.get_privx_component_status",
           lambda: compare({"status": "ok"}, expect(api.get_privx_component_status(state.get("hostname", "")), "component"), ["status"]))
    h.step("instance status", "monitor.get_instance_status",
           lambda: compare({"status": "ok"}, expect(api.get_instance_status(), "instance status"), ["status"]))

    def terminate():
        response = api.terminate_privx_instances()
        if response.ok or response.status != 405:
            raise StepFailed("want 405 (privgate does not terminate over the API), got %s" % response.status)
        return []

    h.step("terminate instances (refused)", "monitor.terminate_privx_instances", terminate)
    if "group" in state:
        h.step("cleanup: delete access group", "authorizer.delete_access_group",
               lambda: (expect(api.delete_access_group(state["group"]), "delete"), [])[1])


# --- hoststore ---


@scenario("hoststore")
def hoststore(h):
    """Every host-store call the Python SDK makes for hosts: status, default service options,
    search by each HostSearch filter, list, tags, resolve, deployable and disabled switches,
    session host certificates, update and delete."""
    api = h.api
    ag = default_access_group(h)
    admin = admin_role(h)
    name = unique("compat-py-hoststore")
    body = {
        "common_name": name,
        "external_id": name + "-ext",
        "instance_id": name + "-instance",
        "source_id": name + "-source",
        "access_group_id": ag,
        "distinguished_name": "CN=" + name,
        "organization": "Example",
        "organizational_unit": name + "-ou",
        "zone": name + "-zone",
        "host_type": "linux",
        "host_classification": name + "-class",
        "scope": [name + "-scope"],
        "cloud_provider": "AWS",
        "cloud_provider_region": name + "-region",
        "addresses": ["192.0.2.80", name + ".example.com"],
        "tags": [name + "-tag"],
        "services": [{"service": "SSH", "address": "192.0.2.80", "port": 2280, "source": "UI"}],
        "principals": [{"principal": "root", "source": "UI", "roles": [{"id": admin.get("id", ""), "name": admin.get("name", "")}]}],
    }
    keys = ["common_name", "external_id", "instance_id", "source_id", "distinguished_name", "organizational_unit", "zone", "scope", "cloud_provider", "cloud_provider_region"]
    state = {}

    h.step("status", "host_store.get_host_store_status", lambda: (expect(api.get_host_store_status(), "status"), [])[1])
    h.step("default service options", "host_store.get_default_service_options",
           lambda: non_empty(expect(api.get_default_service_options(), "default service options"), "ssh"))

    def create():
        data = expect(api.create_host(body), "create")
        state["id"] = data.get("id") if isinstance(data, dict) else None
        if not state["id"]:
            raise StepFailed("create answered no id: %s" % json.dumps(data)[:200])
        return []

    if not h.step("create", "host_store.create_host", create):
        h.skip("read", "host_store.get_host", "create failed")
        return
    host_id = state["id"]

    def read():
        data = expect(api.get_host(host_id), "read")
        drift = compare(body, data, keys)
        for key, want in [("disabled", "FALSE"), ("deleted", False), ("status", []), ("deployable", False)]:
            if data.get(key) != want:
                drift.append({"field": key, "wrote": want, "read": data.get(key)})
        return drift

    h.step("read", "host_store.get_host", read)

    searches = [
        ("id", {"id": host_id}),
        ("keywords", {"keywords": name}),
        ("common_name", {"common_name": [name]}),
        ("address", {"address": [name + ".example.com"]}),
        ("external_id", {"external_id": name + "-ext"}),
        ("instance_id", {"instance_id": name + "-instance"}),
        ("source_id", {"source_id": name + "-source"}),
        ("distinguished_name", {"distinguished_name": ["CN=" + name]}),
        ("organizational_unit", {"organizational_unit": [name + "-ou"]}),
        ("zone", {"zone": [name + "-zone"]}),
        ("host_classification", {"host_classification": [name + "-class"]}),
        ("role", {"role": [admin.get("id", "")], "common_name": [name]}),
        ("scope", {"scope": [name + "-scope"]}),
        ("port", {"port": [2280], "common_name": [name]}),
        ("tags", {"tags": [name + "-tag"]}),
        ("access_group_ids", {"access_group_ids": [ag], "common_name": [name]}),
        ("cloud_provider_regions", {"cloud_provider_regions": [name + "-region"]}),
        ("service", {"service": ["SSH"], "common_name": [name]}),
    ]
    for label, payload in searches:
        def run(payload=payload):
            data = expect(api.search_hosts(limit=10, search_payload=payload), "search")
            ids = [item.get("id") for item in data.get("items", [])]
            if data.get("count") != 1 or ids != [host_id]:
                return [{"field": "items", "wrote": [host_id], "read": ids}]
            return []

        h.step("search by " + label, "host_store.search_hosts", run)

    def page():
        data = expect(api.get_hosts(offset=0, limit=1, sort_key="created", sort_dir="desc"), "list")
        if data.get("count", 0) < 1 or len(data.get("items", [])) != 1:
            raise StepFailed("want a page of one host, got %s" % json.dumps(data)[:200])
        return []

    h.step("list", "host_store.get_hosts", page)

    def tags():
        data = expect(api.get_host_tags(query=name), "tags")
        if data.get("items") != [name + "-tag"]:
            return [{"field": "items", "wrote": [name + "-tag"], "read": data.get("items")}]
        return []

    h.step("tags", "host_store.get_host_tags", tags)

    def resolve():
        data = expect(api.resolve_host({"service": "SSH", "address": "192.0.2.80", "port": 2280}), "resolve")
        return compare({"id": host_id}, data, ["id"])

    h.step("resolve", "host_store.resolve_host", resolve)

    def switch(setter, payload, key, want):
        def run():
            expect(setter(host_id, payload), "set " + key)
            data = expect(api.get_host(host_id), "read")
            if data.get(key) != want:
                return [{"field": key, "wrote": want, "read": data.get(key)}]
            return []
        return run

    h.step("set deployable", "host_store.set_host_deployable", switch(api.set_host_deployable, {"deployable": True}, "deployable", True))
    h.step("set not deployable", "host_store.set_host_deployable", switch(api.set_host_deployable, {"deployable": False}, "deployable", False))
    h.step("disable", "host_store.set_host_disabled_status", switch(api.set_host_disabled_status, {"disabled": True}, "disabled", "TRUE"))
    h.step("enable", "host_store.set_host_disabled_status", switch(api.set_host_disabled_status, {"disabled": False}, "disabled", "FALSE"))

    def certificates():
        data = expect(api.get_session_host_certificates(host_id), "session host certificates")
        if data.get("count") != 0:
            raise StepFailed("want no session host certificates, got %s" % json.dumps(data)[:200])
        return []

    h.step("session host certificates", "host_store.get_session_host_certificates", certificates)
    h.step("delete session host certificates", "host_store.delete_session_host_certificates",
           lambda: (expect(api.delete_session_host_certificates(host_id), "delete session host certificates"), [])[1])

    def update():
        current = expect(api.get_host(host_id), "read")
        current["zone"] = name + "-zone-2"
        expect(api.update_host(host_id, current), "update")
        data = expect(api.search_hosts(search_payload={"zone": [name + "-zone-2"]}), "search")
        if data.get("count") != 1:
            raise StepFailed("the updated zone finds %s hosts" % data.get("count"))
        return []

    h.step("update", "host_store.update_host", update)
    h.step("delete", "host_store.delete_host", lambda: (expect(api.delete_host(host_id), "delete"), [])[1])
    h.step("read after delete", "host_store.get_host", lambda: expect_gone(api.get_host(host_id)))


# --- settings ---
@scenario("settings")
def settings_scenario(h):
    """Every call of the SDK's settings service: status, schemas, scope and section reads and
    writes (token lifetimes written with their defaults, so later scenarios see no change), and
    the restart check."""
    api = h.api
    h.step("status", "settings.get_settings_service_status",
           lambda: compare({"status": "ok"}, expect(api.get_settings_service_status(), "status"), ["status"]))

    def scope_schema():
        doc = expect(api.get_scope_schema("auth"), "scope schema")
        return compare({"title": "auth"}, doc, ["title"]) + ([] if "tokens" in doc.get("properties", {}) else [{"field": "properties.tokens", "wrote": "(declared)", "read": None}])

    h.step("scope schema", "settings.get_scope_schema", scope_schema)
    h.step("section schema", "settings.get_scope_section_schema",
           lambda: compare({"x-privgate-acted-on": True}, expect(api.get_scope_section_schema("auth", "tokens"), "section schema"), ["x-privgate-acted-on"]))
    tokens = {"access_token_ttl_seconds": 300, "refresh_token_ttl_seconds": 28800, "privx_other": "kept"}
    h.step("update section", "settings.update_scope_section_settings",
           lambda: (expect(api.update_scope_section_settings("auth", "tokens", tokens), "update section"), [])[1])
    h.step("read section", "settings.get_scope_section_settings",
           lambda: compare(tokens, expect(api.get_scope_section_settings("auth", "tokens"), "read section"), list(tokens)))
    general = {"banner": unique("compat-py-settings")}
    h.step("update scope", "settings.update_scope_settings",
           lambda: (expect(api.update_scope_settings("global", {"general": general}), "update scope"), [])[1])
    h.step("read scope", "settings.get_scope_settings",
           lambda: compare(general, expect(api.get_scope_settings("global", merge=True), "read scope").get("general", {}), ["banner"]))
    h.step("restart required", "settings.restart_required",
           lambda: compare({"restart_required": False}, expect(api.restart_required("auth", {"tokens": tokens}), "restart required"), ["restart_required"]))
    h.step("unknown scope", "settings.get_scope_settings", lambda: expect_gone(api.get_scope_settings("no-such-scope")))


def main():
    if len(sys.argv) != 2:
        print("usage: harness.py list | harness.py SCENARIO", file=sys.stderr)
        return 2
    if sys.argv[1] == "list":
        for name in sorted(SCENARIOS):
            print(name)
        return 0
    if sys.argv[1] not in SCENARIOS:
        print("harness: no scenario %r" % sys.argv[1], file=sys.stderr)
        return 2
    h = Harness(sys.argv[1])
    if authenticate(h):
        SCENARIOS[sys.argv[1]](h)
    return 1 if h.failed else 0


if __name__ == "__main__":
    sys.exit(main())
