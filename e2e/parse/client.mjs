// The Parse JS SDK client of Vestibule's end-to-end test: a real app's
// calls through the gateway in front of a real Parse Server. Run by
// e2e/parse_test.go with GATEWAY (the gateway's URL), DIRECT (Parse
// Server's own URL, to obtain a token around the gateway) and APP_ID.
// Prints "ok - ..." per check; exits 1 at the first failure.
import Parse from 'parse/node';
import crypto from 'node:crypto';

const gw = process.env.GATEWAY;
const direct = process.env.DIRECT;
const appId = process.env.APP_ID;
Parse.initialize(appId);
Parse.serverURL = gw + '/parse';
// A single-user program: let the SDK keep a current user, as in a browser.
Parse.User.enableUnsafeCurrentUser();

function check(cond, what) {
  if (!cond) {
    console.error('FAIL - ' + what);
    process.exit(1);
  }
  console.log('ok - ' + what);
}

// TOTP (RFC 6238, SHA-1, 6 digits, 30 s) for the enrolled secret.
function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of s.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}
function totp(secret, steps = 0) {
  const counter = Math.floor(Date.now() / 30000) + steps;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const h = crypto.createHmac('sha1', base32(secret)).update(msg).digest();
  const o = h[h.length - 1] & 15;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

async function post(url, body, headers = {}) {
  const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}
const rest = (path, body) => post(gw + '/parse' + path, body, { 'X-Parse-Application-Id': appId });
const api = (path, body) => post(gw + '/.vestibule/api/' + path, body);

const username = 'erin', password = 'erin-pw-1';

// Signup through the SDK: the new user's session is held.
const u = new Parse.User();
u.set('username', username);
u.set('password', password);
try {
  await u.signUp();
  check(false, 'signup released a session without a second factor');
} catch (e) {
  check(e.code === -1 && e.message === 'Missing additional authData mfa', `SDK signup held (${e.code} ${e.message})`);
}
check(!u.getSessionToken(), 'no session token after the held signup');

// Login over REST: the JSON challenge; enroll an authenticator over JSON.
let r = await rest('/login', { username, password });
check(r.status === 400 && r.body.challenge && r.body.enroll === true && !JSON.stringify(r.body).includes('r:'), 'REST login answered with an enrollment challenge');
const challenge = r.body.challenge;
const en = await api('enroll/totp', { challenge });
check(en.status === 200 && en.body.secret && en.body.otpauthUrl.startsWith('otpauth://totp/') && en.body.qrPng.startsWith('data:image/png;base64,'), 'TOTP enrollment started (secret, otpauth URL, QR)');
const secret = en.body.secret;
const cf = await api('enroll/confirm', { challenge, code: totp(secret) });
check(cf.status === 200 && cf.body.recoveryCodes.length === 10, 'enrollment confirmed with recovery codes');
const rel = await api('verify', { challenge });
check(rel.status === 200 && rel.body.sessionToken && rel.body.username === username, 'held login released with its session token');

// The SDK takes the released session; objects are saved and queried.
await Parse.User.become(rel.body.sessionToken);
const Note = Parse.Object.extend('Note');
const note = new Note();
note.set('text', 'hello from behind the gateway');
note.setACL(new Parse.ACL(Parse.User.current()));
await note.save();
let found = await new Parse.Query(Note).find();
check(found.length === 1 && found[0].get('text') === 'hello from behind the gateway', 'object saved and queried with the released session');
await Parse.User.logOut();

// Later logins the mfa-adapter way, through the SDK.
try {
  await Parse.User.logIn(username, password);
  check(false, 'a login without a code was released');
} catch (e) {
  check(e.message === 'Missing additional authData mfa', 'SDK login without a code refused like the mfa adapter');
}
try {
  await Parse.User.logInWithAdditionalAuth(username, password, { mfa: { token: '000000' } });
  check(false, 'a wrong code was accepted');
} catch (e) {
  check(e.message === 'Invalid MFA token', 'a wrong code refused');
}
const user = await Parse.User.logInWithAdditionalAuth(username, password, { mfa: { token: totp(secret, 1) } });
const token = user.getSessionToken();
check(!!token, 'SDK login with a TOTP code released');
found = await new Parse.Query(Note).find();
check(found.length === 1, 'objects readable after the coded login');

// Logout through the SDK: the token is gone at the gateway too.
await Parse.User.logOut();
r = await fetch(gw + '/parse/users/me', { headers: { 'X-Parse-Application-Id': appId, 'X-Parse-Session-Token': token } });
const after = await r.json();
check(r.status === 400 && after.code === 209, 'the logged-out token is refused');

// A token obtained without the second factor (straight from Parse Server)
// works there and is refused through the gateway.
const d = await post(direct + '/login', { username, password }, { 'X-Parse-Application-Id': appId });
check(d.status === 200 && d.body.sessionToken, 'a token obtained around the gateway (direct login)');
r = await fetch(direct + '/users/me', { headers: { 'X-Parse-Application-Id': appId, 'X-Parse-Session-Token': d.body.sessionToken } });
check(r.status === 200, 'Parse Server itself accepts it');
try {
  await Parse.User.become(d.body.sessionToken);
  check(false, 'the gateway accepted a token it never released');
} catch (e) {
  check(e.code === 209, `the gateway refuses it (${e.code} ${e.message})`);
}
console.log('all checks passed');
