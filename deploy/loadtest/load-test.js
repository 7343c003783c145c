// k6 load test: ramp 20 -> 50 -> 0 virtual users POSTing workflow.json.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e THAIYYAL_TOKEN=... deploy/loadtest/load-test.js
//
// The run fails (non-zero exit) when p95 latency reaches 500 ms or more than 1% of
// requests fail.
import http from 'k6/http';
import { check } from 'k6';

const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const TOKEN = __ENV.THAIYYAL_TOKEN;
const PATH = __ENV.THAIYYAL_PATH || '/api/v1/workflow/execute';
if (!TOKEN) {
  throw new Error('set THAIYYAL_TOKEN (k6 run -e THAIYYAL_TOKEN=...)');
}
// open() runs in the init context, once per VU; the path is relative to this script.
const BODY = open('./workflow.json');

export const options = {
  stages: [
    { duration: '30s', target: 20 },
    { duration: '1m', target: 50 },
    { duration: '30s', target: 0 },
  ],
  thresholds: {
    http_req_duration: ['p(95)<500'],
    http_req_failed: ['rate<0.01'],
  },
};

const params = {
  headers: {
    'Content-Type': 'application/json',
    Authorization: `Token ${TOKEN}`,
  },
};

export default function () {
  const res = http.post(`${BASE_URL}${PATH}`, BODY, params);
  check(res, {
    'status is 200': (r) => r.status === 200,
    'run succeeded': (r) => r.status === 200 && r.json('success') === true,
  });
}
