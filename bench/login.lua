-- wrk script for bench/login.sh: a flood of valid logins (POST /api/v1/auth/login).
--
-- The requests are spread over BENCH_ACCOUNTS accounts (bench000@example.org,
-- bench001@example.org, ...), each wrk thread taking its own share in turn, as the logins of
-- many people would be.
--
-- Environment (bench/login.sh sets all of them):
--   BENCH_ACCOUNTS       number of accounts                      (default 128)
--   BENCH_FLOOD_THREADS  wrk's -t, to share the accounts out     (default 2)
--   BENCH_PASSWORD       the accounts' password
--   BENCH_TOTP_CODES     a Lua file of accounts with a second factor, written by
--                        bench/login.sh just before the flood: it sets `totp_base` (a TOTP
--                        time step) and `totp_accounts`, a list of {email, codes}, where
--                        codes[k] is the account's code for step totp_base + k - 1. When set,
--                        the flood logs in with these accounts and a current code each time
--                        instead of the bench000... accounts. The service takes each step of
--                        an account once and only within one step of its clock (SPEC §12.1),
--                        so every account is used at most once a step, in rising steps.
--
-- done() prints one "status <code> <count>" line per HTTP status, then "logins_ok <count>"
-- (2xx answers) and "logins_per_sec <float>" (2xx answers per second of the run).

local accounts = tonumber(os.getenv("BENCH_ACCOUNTS") or "128")
local thread_count = tonumber(os.getenv("BENCH_FLOOD_THREADS") or "2")
local password = os.getenv("BENCH_PASSWORD") or "bench-password-0123456789"

local function json_string(s)
  local escaped = s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. escaped .. '"'
end

dofile("bench/statuses.lua")

local totp_codes = os.getenv("BENCH_TOTP_CODES")
local headers = { ["Content-Type"] = "application/json" }

-- Thread state.
function init(args)
  statuses = {}
  bodies = {}
  cursor = 0
  if totp_codes and totp_codes ~= "" then
    dofile(totp_codes)
    mine = {}
    for i = id + 1, #totp_accounts, thread_count do
      local a = totp_accounts[i]
      mine[#mine + 1] = {
        prefix = '{"email":' .. json_string(a.email) .. ',"password":' .. json_string(password) .. ',"totp":"',
        codes = a.codes,
        last = 0,
      }
    end
    if #mine == 0 then
      error(string.format("thread %d has no account with a second factor", id))
    end
    return
  end
  for i = id, accounts - 1, thread_count do
    local body = '{"email":' .. json_string(string.format("bench%03d@example.org", i))
      .. ',"password":' .. json_string(password) .. '}'
    bodies[#bodies + 1] = wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
  end
  if #bodies == 0 then
    error(string.format("thread %d has no account: BENCH_ACCOUNTS=%d, BENCH_FLOOD_THREADS=%d",
      id, accounts, thread_count))
  end
end

-- The next account of this thread with a code the service has not seen and will take now.
local function totp_request()
  local now = math.floor(os.time() / 30)
  local a
  for _ = 1, #mine do
    cursor = cursor % #mine + 1
    a = mine[cursor]
    local step = math.max(a.last + 1, now)
    local code = a.codes[step - totp_base + 1]
    if step <= now + 1 and code then
      a.last = step
      return wrk.format("POST", nil, headers, a.prefix .. code .. '"}')
    end
  end
  -- Every account has spent its codes for now: a spent one, refused (counted as non-2xx).
  return wrk.format("POST", nil, headers, a.prefix .. '000000"}')
end

function request()
  if mine then
    return totp_request()
  end
  cursor = cursor % #bodies + 1
  return bodies[cursor]
end

-- A 503 (the hashing queue is full) says Retry-After: 1. Clients that honour it wait a second
-- before their next login: the next request of this thread after each 503 is delayed by
-- 1000 ms. (wrk's delay() is per thread, so this approximates each connection waiting.)
-- BENCH_HONOUR_RETRY_AFTER=0 retries at once, as a hostile flood would.
local honour = (os.getenv("BENCH_HONOUR_RETRY_AFTER") or "1") ~= "0"
backoffs = 0

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 503 and honour then
    backoffs = backoffs + 1
  end
end

function delay()
  if backoffs > 0 then
    backoffs = backoffs - 1
    return 1000
  end
  return 0
end

function done(summary, latency, requests)
  print_statuses(summary, "logins")
end
