-- wrk script: POST a workflow to Thaiyyal's execute endpoint with an API token.
--
--   THAIYYAL_TOKEN=... wrk -t2 -c10 -d30s -s deploy/loadtest/post.lua http://127.0.0.1:8080
--
-- Environment:
--   THAIYYAL_TOKEN      the API token (sent as "Authorization: Token <key>"); required
--   THAIYYAL_BODY_FILE  the JSON body (default: workflow.json beside this script)
--   THAIYYAL_PATH       the request path when the URL has none
--                       (default: /api/v1/workflow/execute)
-- The base URL is wrk's own argument. At the end a line starting "THAIYYAL_WRK_JSON "
-- holds the figures as JSON (latencies in microseconds) for scripts to parse.

local function script_dir()
  local source = debug.getinfo(1, "S").source
  return source:match("^@(.*/)") or "./"
end

local function read_file(path)
  local handle, err = io.open(path, "rb")
  if not handle then
    error("cannot read the request body: " .. tostring(err))
  end
  local content = handle:read("*a")
  handle:close()
  return content
end

local token = os.getenv("THAIYYAL_TOKEN")
if token == nil or token == "" then
  error("set THAIYYAL_TOKEN to an API token")
end

wrk.method = "POST"
wrk.body = read_file(os.getenv("THAIYYAL_BODY_FILE") or (script_dir() .. "workflow.json"))
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token " .. token
if wrk.path == nil or wrk.path == "" or wrk.path == "/" then
  wrk.path = os.getenv("THAIYYAL_PATH") or "/api/v1/workflow/execute"
end

-- Per-thread counters of responses outside 2xx (wrk itself only counts >= 400).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  first_bad = ""
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local bad, sample = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("non2xx") or 0)
    local first = thread:get("first_bad") or ""
    if sample == "" then sample = first end
  end
  local errors = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    'THAIYYAL_WRK_JSON {"requests": %d, "duration_s": %.6f, "rps": %.2f, '
    .. '"p50_us": %d, "p90_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, '
    .. '"mean_us": %.1f, "non2xx": %d, "socket_errors": %d, "timeouts": %d, '
    .. '"first_non2xx": "%s"}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean, bad,
    errors.connect + errors.read + errors.write, errors.timeout,
    sample:gsub('[%c"\\]', " ")))
end
