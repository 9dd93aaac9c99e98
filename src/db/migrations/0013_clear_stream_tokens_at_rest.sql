-- Replies stored before stream tokens were derived hold a live token in clear (calls still in
-- progress at the upgrade; an ended call's reply is already gone). A retry of such a step then
-- gets an empty <Response/>, as for a step the call has moved past: the stream is not started twice.
-- A reply stored since then holds the placeholder in the token's place, and stays.
UPDATE "calls" SET "last_twiml" = NULL
WHERE "last_twiml" LIKE '%<Parameter name="token" value="%' AND "last_twiml" NOT LIKE '%value="<stream-token>"%';
