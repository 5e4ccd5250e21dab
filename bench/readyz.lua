-- wrk script for bench/login.sh: paces the /readyz probe, BENCH_PROBE_DELAY_MS (default 5)
-- between requests, so that the probe itself takes next to no CPU from the login flood it
-- measures. wrk starts a request's clock when it sends the request, so the pause is not part
-- of the latency figures.

local pause_ms = tonumber(os.getenv("BENCH_PROBE_DELAY_MS") or "5")

function delay()
  return pause_ms
end
