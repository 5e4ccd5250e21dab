-- wrk script for bench/mixed.sh: 70 % queue reads, 20 % anonymous submissions, 10 % triage.
--
-- Environment (bench/mixed.sh sets them):
--   BENCH_TOKEN     a caseworker's access token (queue reads and triage)
--   BENCH_IDS       a file of report ids in status new at version 1, one per line; each triage
--                   request takes the next unused id, so every If-Match "1" is current
--   BENCH_THREADS   wrk's -t, to share the ids out
--
-- done() prints "status <code> <count>" lines, "requests_ok" and "requests_per_sec" (2xx
-- answers), then "kind <name> <count>" lines (requests sent), then "acknowledged submit <n>"
-- (201 answers, the only status a submission gets) and "acknowledged triage <n>" (200 answers
-- that carry an ETag: only a PATCH does, a queue read never), which the script checks against
-- the database after the run.

local token = os.getenv("BENCH_TOKEN") or ""
local ids_file = os.getenv("BENCH_IDS") or ""
local thread_count = tonumber(os.getenv("BENCH_THREADS") or "2")

dofile("bench/statuses.lua")

local filters = {
  "status=new", "status=triaged&country=NL", "country=DE", "tactic=surveillance", "sort=priority",
  "assignee=none", "kind=station&status=new", "priority=high",
}

-- Formatted in init(): at load time wrk does not know the Host header yet.
local submission_body = ('{"kind":"incident","tactics":["surveillance","threat_to_family"],'
  .. '"narrative":"They called my parents in Fuzhou and asked where I live. 他们问我住在哪里。",'
  .. '"country":"NL","city":"Rotterdam","contact":"signal +31 6 0000 0000","consent":{"contact_ok":true}}')

function init(args)
  submission = wrk.format("POST", "/api/v1/reports", { ["Content-Type"] = "application/json" }, submission_body)
  statuses = {}
  kinds = { read = 0, submit = 0, triage = 0 }
  acknowledged = { submit = 0, triage = 0 }
  ids = {}
  local n = 0
  for line in io.lines(ids_file) do
    if n % thread_count == id then
      ids[#ids + 1] = line
    end
    n = n + 1
  end
  next_id = 0
  counter = 0
  math.randomseed(os.time() + id)
end

function request()
  counter = counter + 1
  local r = counter % 10
  local auth = { ["Authorization"] = "Bearer " .. token }
  if r < 7 then
    kinds.read = kinds.read + 1
    local filter = filters[math.random(#filters)]
    return wrk.format("GET", "/api/v1/reports?limit=50&" .. filter, auth)
  elseif r < 9 then
    kinds.submit = kinds.submit + 1
    return submission
  else
    next_id = next_id + 1
    if next_id > #ids then
      error("ran out of fresh report ids for triage; raise BENCH_FILL")
    end
    kinds.triage = kinds.triage + 1
    auth["Content-Type"] = "application/json"
    auth["If-Match"] = '"1"'
    return wrk.format("PATCH", "/api/v1/reports/" .. ids[next_id], auth, '{"priority":"high","tags":["bench"]}')
  end
end

-- Replaces statuses.lua's: also tells acknowledged writes apart.
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 then
    acknowledged.submit = acknowledged.submit + 1
  elseif status == 200 and (headers["etag"] or headers["ETag"] or headers["Etag"]) then
    acknowledged.triage = acknowledged.triage + 1
  end
end

function done(summary, latency, requests)
  print_statuses(summary, "requests")
  for kind, count in pairs(totals("kinds")) do
    io.write(string.format("kind %s %d\n", kind, count))
  end
  for kind, count in pairs(totals("acknowledged")) do
    io.write(string.format("acknowledged %s %d\n", kind, count))
  end
end
