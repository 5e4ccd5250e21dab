-- wrk script for bench/intake.sh: anonymous report submissions (POST /api/v1/reports without a
-- token), every request with the same body. The service gives each report its own id,
-- reference, receipt and data key, so identical bodies still make distinct reports.
--
-- Environment (bench/intake.sh sets it):
--   BENCH_BODY_FILE  the JSON body to send (default bench/intake.json, relative to the working
--                    folder)
--   BENCH_DELAY_MS   if set, each connection waits this long before each request (a steady
--                    load rather than as many as the server takes; bench/keys.sh)
--
-- done() prints one "status <code> <count>" line per HTTP status, then "submissions_ok <count>"
-- (2xx answers) and "submissions_per_sec <float>" (2xx answers per second of the run).

local path = os.getenv("BENCH_BODY_FILE") or "bench/intake.json"

local function read_body()
  local file = assert(io.open(path, "rb"), "cannot open " .. path)
  local body = file:read("*a")
  file:close()
  return body
end

dofile("bench/statuses.lua")

-- Thread state.
function init(args)
  statuses = {}
  prepared = wrk.format("POST", "/api/v1/reports", { ["Content-Type"] = "application/json" }, read_body())
end

function request()
  return prepared
end

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if delay_ms then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  print_statuses(summary, "submissions")
end
