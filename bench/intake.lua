-- wrk script for bench/intake.sh: anonymous report submissions (POST /api/v1/reports without a
-- token), every request with the same body. The service gives each report its own id,
-- reference, receipt and data key, so identical bodies still make distinct reports.
--
-- Environment (bench/intake.sh sets it):
--   BENCH_BODY_FILE  the JSON body to send (default bench/intake.json, relative to the working
--                    folder)
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

-- Main state: every thread, to collect the counts in done().
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Thread state.
function init(args)
  statuses = {}
  prepared = wrk.format("POST", "/api/v1/reports", { ["Content-Type"] = "application/json" }, read_body())
end

function request()
  return prepared
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      total[status] = (total[status] or 0) + count
    end
  end
  local codes = {}
  for status in pairs(total) do
    codes[#codes + 1] = status
  end
  table.sort(codes)
  local ok = 0
  for _, status in ipairs(codes) do
    io.write(string.format("status %d %d\n", status, total[status]))
    if status >= 200 and status < 300 then
      ok = ok + total[status]
    end
  end
  local seconds = summary.duration / 1e6
  io.write(string.format("submissions_ok %d\n", ok))
  io.write(string.format("submissions_per_sec %.2f\n", seconds > 0 and ok / seconds or 0))
end
