/** The ceiling: node:http answering a fixed JSON body, the most any HTTP server here can do. */
import { createServer } from 'node:http';
import { listen } from './listen.js';

const body = JSON.stringify({ result: { data: { json: { ok: true } } } });
const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };

listen(
  createServer((_req, res) => {
    res.writeHead(200, headers);
    res.end(body);
  }),
  'ceiling',
);
