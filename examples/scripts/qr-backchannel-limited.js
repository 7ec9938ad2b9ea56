// QR registration, step 1, with abuse limits: the portal asks for a one-time QR identifier
// for its logged-in user, as in qr-backchannel.js, but
//  - one user may ask for at most 5 codes a minute (RATE.take: a fixed window shared by
//    every node), and
//  - at most 20 codes are handed out per user per day (CACHE.increment with a one-day TTL,
//    set when the day's first code is made).
// Pair it with a declarative limit on the endpoint (rate_limits in the config file) so a
// misbehaving portal is stopped before the script even runs.
function execute(requestPayload) {
  var userId = JSON.parse(requestPayload).userId;
  if (typeof userId !== "string" || userId.length === 0) {
    return { status: 5001, responsePayload: JSON.stringify({ error: "userId missing" }) };
  }

  var minute = RATE.take("qr-user:" + userId, 5, 60);
  if (!minute.allowed) {
    LOG.warn("QR codes for {} limited, retry in {} s", userId, minute.resetSeconds);
    return { status: 4290, responsePayload: JSON.stringify({ retry_after: minute.resetSeconds }) };
  }

  var today = CACHE.increment("qr-user-day:" + userId, 1, 86400);
  if (today > 20) {
    return { status: 4291, responsePayload: JSON.stringify({ error: "daily limit reached" }) };
  }

  var identifier = java.util.UUID.randomUUID().toString();
  CACHE.store(identifier, userId, 100); // the QR code is valid for 100 seconds
  return { status: 2000, responsePayload: identifier };
}
