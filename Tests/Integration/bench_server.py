"""Prints server figures (not a test): HTTP round trips, end-to-end tokens/s and time to the first streamed token.

    python3 Tests/Integration/bench_server.py PORT [MODEL_ID]

against a running `glmserve serve`. Uses only the standard library. GLM's turn tokens (found with /tokenize) are
banned with logit_bias so every request generates its full max_tokens.
"""
import http.client
import json
import sys
import time

port = int(sys.argv[1])
conn = http.client.HTTPConnection("127.0.0.1", port)


def post(path: str, body: dict) -> dict:
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    return json.loads(conn.getresponse().read())


model = sys.argv[2] if len(sys.argv) > 2 else json.loads(
    (conn.request("GET", "/v1/models"), conn.getresponse().read())[1])["data"][0]["id"]
stops = set()
for name in ["<|endoftext|>", "<|user|>", "<|observation|>", "<|system|>", "<|assistant|>"]:
    tokens = post("/tokenize", {"content": name})["tokens"]
    if len(tokens) == 1:
        stops.add(tokens[0])
bias = {str(i): -100 for i in stops}

n = 2000
start = time.time()
for _ in range(n):
    conn.request("GET", "/health")
    conn.getresponse().read()
elapsed = time.time() - start
print(f"GET /health, keep-alive: {n / elapsed:.0f} requests/s ({elapsed / n * 1e6:.0f} us each)")

body = {"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 200, "temperature": 0,
        "logit_bias": bias}
start = time.time()
total = sum(post("/v1/chat/completions", body)["usage"]["completion_tokens"] for _ in range(5))
elapsed = time.time() - start
print(f"non-streamed chat completions: {total} tokens in {elapsed:.2f} s = {total / elapsed:.0f} tokens/s end to end")

conn.request("POST", "/v1/chat/completions", body=json.dumps({**body, "max_tokens": 50, "stream": True}))
start = time.time()
response = conn.getresponse()
first = None
while True:
    line = response.readline()
    if not line or b"[DONE]" in line:
        break
    if first is None and line.startswith(b"data: ") and b'"content":""' not in line:
        first = time.time() - start
response.read()
print(f"streamed: first content event after {first * 1000:.1f} ms" if first else "streamed: no content event")
