-- wrk script for the state_changes benchmark's serve mode (RACKSTATE_BENCH_SERVE=1):
-- manual state changes through the REST API, cycling over the bench's servers and
-- toggling each between available and unavailable. There are twice as many servers
-- as connections, so a server's previous change is answered before its next one.
--   RACKSTATE_TOKEN=... wrk -t2 -c200 -d10s --latency -s server/benches/wrk/toggle.lua http://127.0.0.1:PORT
-- The script assumes every server starts unavailable: serve afresh for each run.
-- Env: RACKSTATE_TOKEN (printed by the bench), RACKSTATE_SERVERS (default 400),
-- RACKSTATE_FIRST_ID (default 1), RACKSTATE_WRK_THREADS (wrk's -t, default 2).

local token = os.getenv("RACKSTATE_TOKEN") or error("set RACKSTATE_TOKEN")
local servers = tonumber(os.getenv("RACKSTATE_SERVERS") or "400")
local first = tonumber(os.getenv("RACKSTATE_FIRST_ID") or "1")
local step = tonumber(os.getenv("RACKSTATE_WRK_THREADS") or "2")
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  -- Thread k of n takes the servers first+k, first+k+n, ...: no two threads share one.
  nxt = index
  available = {}
  bad = 0
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local id = first + nxt
  nxt = nxt + step
  if nxt >= servers then nxt = index end
  local to = available[id] and "unavailable" or "available"
  available[id] = not available[id]
  return wrk.format("POST", "/api/v1/servers/" .. id .. "/state", nil, '{"state":"' .. to .. '","checked":true}')
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    if bad <= 3 then io.stderr:write("non-200: " .. status .. " " .. body .. "\n") end
  end
end

function done(summary, latency, requests)
  local errors = 0
  for _, t in ipairs(threads) do errors = errors + (t:get("bad") or 0) end
  io.write(string.format("changes/s: %.0f  p50 %.1f ms  p99 %.1f ms  non-200: %d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, errors))
end
