-- wrk script for bench/webhook_ingest.py: POSTs of Alertmanager webhook payloads (version 4),
-- every alert new (its fingerprint is the run's prefix, the thread and a counter), and a summary
-- line of JSON for the Python side.
--   wrk -t1 -c50 -d10s -s webhook_alerts.lua URL -- ALERTS_PER_POST PREFIX TOKEN
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  size = tonumber(args[1] or "1")
  prefix = args[2] or "0"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. (args[3] or "")
  counter = 0
end

function request()
  local parts = {}
  for k = 1, size do
    counter = counter + 1
    local fp = string.format("%s-%d-%d", prefix, tid, counter)
    parts[k] = '{"status":"firing","labels":{"alertname":"BenchAlert","severity":"warning",'
      .. '"region":"local","instance":"host-' .. fp .. '","service":"api"},'
      .. '"annotations":{"summary":"bench"},"startsAt":"2026-01-01T00:00:00Z",'
      .. '"endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":"' .. fp .. '"}'
  end
  return wrk.format(nil, "/webhook", nil,
    '{"version":"4","status":"firing","alerts":[' .. table.concat(parts, ",") .. ']}')
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'SUMMARY {"requests":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,'
      .. '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
