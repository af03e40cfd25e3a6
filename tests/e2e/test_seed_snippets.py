"""The user guide's Python snippets (shared/seeds), run as written against a live server.

Only the host is swapped (https://api.example.com -> the test server) and print() is
replaced by assertions. john@example.com / secret123 is created through the admin API.
"""
import base64

import pytest
import requests

from support import assert_error, register_secret

register_secret("secret123")


@pytest.fixture(scope="module")
def john(server, admin):
    r = admin.post("/api/users", json={"username": "john", "email": "john@example.com", "password": "secret123"},
                   headers=admin.auth_headers())
    assert r.status_code == 201, r.text
    return r.json()


def test_login_then_bearer(server, john):
    base = server.url
    # Step 1: Login
    login_data = {
        "username": "john@example.com",
        "password": "secret123"
    }
    response = requests.post(
        base + "/auth/login",
        json=login_data
    )
    assert response.status_code == 200, response.text
    token = response.json()["token"]
    # Step 2: Use token for authenticated requests
    headers = {"Authorization": f"Bearer {token}"}
    response = requests.get(
        base + "/users/me",
        headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["username"] == "john"
    assert body["email"] == "john@example.com"
    assert body["id"] == john["id"]
    assert body["auth"]["method"] == "jwt"  # the default tokens.format


def test_basic_with_requests_auth(server, john):
    response = requests.get(
        server.url + "/users/me",
        auth=("john@example.com", "secret123")  # Automatically encodes
    )
    assert response.status_code == 200, response.text
    assert response.json()["username"] == "john"
    assert response.json()["auth"]["method"] == "basic"


def test_basic_manual_encoding(server, john):
    username = "john@example.com"
    password = "secret123"
    # Encode credentials
    credentials = f"{username}:{password}"
    encoded = base64.b64encode(credentials.encode()).decode()
    headers = {"Authorization": f"Basic {encoded}"}
    response = requests.get(server.url + "/users/me", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == john["id"]


def test_basic_on_admin_endpoint_is_403_for_john(server, john):
    # The guide's "GET /api/users" with John's Basic credentials: he is authenticated
    # (not 401) but not allowed (403): "Can John delete this post?"
    response = requests.get(server.url + "/api/users", auth=("john@example.com", "secret123"))
    assert_error(response, 403, "forbidden")


def test_refresh_snippet(server, john):
    login = requests.post(server.url + "/auth/login", json={"username": "john@example.com", "password": "secret123"})
    assert login.status_code == 200
    # Use refresh token to get new access token
    refresh_token = login.json()["refresh_token"]
    response = requests.post(
        server.url + "/auth/refresh",
        json={"refresh_token": refresh_token}
    )
    assert response.status_code == 200, response.text
    new_access_token = response.json()["access_token"]
    me = requests.get(server.url + "/users/me", headers={"Authorization": f"Bearer {new_access_token}"})
    assert me.status_code == 200
    assert me.json()["username"] == "john"


def test_login_with_email_as_username_literal(server, admin):
    """A user whose *username* is an e-mail address (allowed: [A-Za-z0-9._@+-])."""
    register_secret("secret-jane-123")
    r = admin.post("/api/users", json={"username": "jane@example.com", "password": "secret-jane-123"},
                   headers=admin.auth_headers())
    assert r.status_code == 201, r.text
    response = requests.post(server.url + "/auth/login",
                             json={"username": "jane@example.com", "password": "secret-jane-123"})
    assert response.status_code == 200
    token = response.json()["token"]
    response = requests.get(server.url + "/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.json()["username"] == "jane@example.com"
    response = requests.get(server.url + "/users/me", auth=("jane@example.com", "secret-jane-123"))
    assert response.status_code == 200


def test_api_key_snippets(server, admin, start_server):
    # The guide's Method 1 with a real key (the admin's, so /api/users answers)
    API_KEY = admin.post("/api/keys", json={"name": "seed"}, headers=admin.auth_headers()).json()["key"]
    headers = {"X-API-Key": API_KEY}
    response = requests.get(server.url + "/api/users", headers=headers)
    assert response.status_code == 200, response.text
    assert "users" in response.json()
    # Method 2 ("less secure") is off by default: 401 that says to use the header ...
    params = {"api_key": API_KEY}
    response = requests.get(server.url + "/api/users", params=params)
    assert_error(response, 401, "invalid_token")
    assert "X-API-Key" in response.json()["error_description"]
    # ... and works once `api_keys.allow_query_param = true`.
    srv = start_server(env={"GATEHOUSE_API_KEYS_ALLOW_QUERY_PARAM": "true"})
    other = srv.admin()
    API_KEY = other.post("/api/keys", json={"name": "seed"}, headers=other.auth_headers()).json()["key"]
    response = requests.get(srv.url + "/api/users", params={"api_key": API_KEY})
    assert response.status_code == 200, response.text
    # A made-up key is a 401, never a 200 or a 500.
    response = requests.get(server.url + "/users/me", headers={"X-API-Key": "abc123xyz789"})
    assert_error(response, 401, "invalid_token")


def test_wrong_password_is_401_not_403(server, john):
    response = requests.post(server.url + "/auth/login", json={"username": "john@example.com",
                                                               "password": "secret124-wrong"})
    assert_error(response, 401, "invalid_credentials")
    response = requests.get(server.url + "/users/me", auth=("john@example.com", "secret124-wrong"))
    assert_error(response, 401, "invalid_credentials")
