-- wrk script: POST one JSON body (the file named after "--") on every request, and print the run's figures
-- as one JSON line that bench/run.py reads. Latencies are in microseconds; "failed" counts HTTP status > 399.

local request_bytes

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local body = file:read("*a")
  file:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  request_bytes = wrk.format(nil, nil, nil, body)
end

function request()
  return request_bytes
end

function done(summary, latency, _requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "failed": %d, "socket_errors": %d, '
      .. '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
