// Raw Bayeux over HTTP for the wire-level tests.
export const BASE = '/statistics/v3/notifications';

// A tiny Bayeux-over-HTTP client with a cookie jar.
export class Wire {
  constructor(url, token) {
    this.url = url;
    this.token = token;
    this.cookies = new Map();
    this.nextId = 1;
  }
  async post(messages, suffix = '', { raw, contentType = 'application/json' } = {}) {
    const headers = { 'content-type': contentType };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(`${this.url}${BASE}${suffix}`, { method: 'POST', headers, body: raw ?? JSON.stringify(messages) });
    for (const c of res.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const [k, v] = kv.split('=');
      this.cookies.set(k, v);
    }
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = text; }
    return { status: res.status, body: json, setCookie: res.headers.getSetCookie() };
  }
  id() { return String(this.nextId++); }
  async handshake(ext) {
    const r = await this.post([{ id: this.id(), channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'], ...(ext ? { ext } : {}) }], '/handshake');
    this.clientId = r.body[0].clientId;
    return r;
  }
  connect(extra = {}) {
    return this.post([{ id: this.id(), channel: '/meta/connect', connectionType: 'long-polling', clientId: this.clientId, ...extra }], '/connect');
  }
  subscribe(channel) {
    return this.post([{ id: this.id(), channel: '/meta/subscribe', subscription: channel, clientId: this.clientId }], '/');
  }
}
