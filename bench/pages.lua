-- wrk script for bench/pages.sh: report submissions through the reporter website's form
-- (POST /en/report, application/x-www-form-urlencoded), every request with the same body and
-- the same signed form token (tokens are stateless; one is good for 24 hours).
--
-- Environment (bench/pages.sh sets it):
--   BENCH_FORM_FILE  the urlencoded body, form token included
--
-- done() prints the lines of bench/statuses.lua with the prefix "submissions".

local path = assert(os.getenv("BENCH_FORM_FILE"), "BENCH_FORM_FILE is not set")

local function read_body()
  local file = assert(io.open(path, "rb"), "cannot open " .. path)
  local body = file:read("*a")
  file:close()
  return body
end

dofile("bench/statuses.lua")

function init(args)
  statuses = {}
  prepared = wrk.format("POST", "/en/report", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Sec-Fetch-Site"] = "same-origin",
  }, read_body())
end

function request()
  return prepared
end

function done(summary, latency, requests)
  print_statuses(summary, "submissions")
end
