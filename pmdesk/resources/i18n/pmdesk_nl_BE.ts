<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="nl_BE" sourcelanguage="en_GB">
<context>
    <name></name>
    <message>
        <source>Deleting…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Unlocking…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Ending sessions…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Removing…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancelling…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Delete person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Delete {name}?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Delete</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Their login and trusted IP addresses are removed too. This cannot be undone.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{name} is signed out everywhere ({n} sessions ended).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>End sessions</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Sign {name} out everywhere?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Their desktop apps return to the login dialog within a minute, and their command-line sessions stop working. They can sign in again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trusted address removed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove trusted address</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove this trusted address of {name}?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Logins from there will need a security code again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The helpdesk code of {name} is cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel helpdesk code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel the helpdesk code of {name}?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>It stops working at once. You can issue a new one.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Keep it</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Loading…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Not saved: correct the fields marked in red.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Empty: {host}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Numbers stored without a country code are read as this country&apos;s: BE, NL, …</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>From file…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>filled in from the JSON key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>STARTTLS (port 587)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>TLS from the start (port 465)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>None (local relay only)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Client secret</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Certificate</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Paste the certificate&apos;s PEM private key, from -----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY-----.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>stored in the keyring; type to replace</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>not stored on this computer yet</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The keyring could not be read: {problem}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No user name: the server is used without a login.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The {what} is kept in this computer&apos;s keyring, never in the database: every workstation that sends codes needs it once.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>it is too large to be a key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>it is not a text file (a JSON key or a PEM key)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Outbox folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>JSON key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Private key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>JSON key (*.json)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>PEM key (*.pem *.key)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>All files (*)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reload the groups and their rights (F5)</source>
        <extracomment>The name dialog (New group, Rename) while it is open.</extracomment>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reload the groups</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>New group</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Rename</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Delete group</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Nobody is in this group.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>1 person is in this group.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{n} people are in this group.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The locks could not be read</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Not unlocked</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The office networks could not be read</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Checking…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>What the new policy would change could not be read</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The trust policy could not be saved</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Adding…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The office network could not be added</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>What the removal would change could not be read</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The office network could not be removed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The groups could not be loaded</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The permissions could not be loaded</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The permissions were not saved</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reload shows the permissions as they are now saved; your ticks are discarded. Keep my changes leaves them here, unsaved.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The group was not deleted</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reload shows the settings as they are now saved; what you typed here is discarded. Keep my changes leaves them here, unsaved.</source>
        <extracomment>The trusted IP table shows a fresh page (after a reload, a filter, paging or a removal).</extracomment>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The security settings could not be loaded</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The connection status could not be read</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Checking who can receive a code…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The check did not work</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The change was not saved</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>What the shorter period would end could not be read</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Not saved</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The test code could not be sent</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Shorten the trust period</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trust addresses for {days} days instead of {before}?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Shorten</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>AddressDialog</name>
    <message>
        <source>Address</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Street</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Postcode</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>City</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Country</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Address (view only)</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ConflictDialog</name>
    <message>
        <source>Changed on another workstation</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{name} was changed on another workstation since you opened it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Nothing was saved. Your changes are still in the form. Compare them with the values saved meanwhile:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Nothing was saved. The other workstation&apos;s values are the same as yours.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Field</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Yours</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Theirs (saved)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Your new password is kept in the form and saved with yours.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Save mine over theirs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Discard mine, load theirs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Keep editing</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ConnectionStatusBox</name>
    <message>
        <source>Connection security</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Database connection</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Code delivery</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This workstation&apos;s address, as the database sees it</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Embedded database on this computer (no network link)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Encryption: TLS</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Encryption: none (server on this computer only)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Not encrypted: data and sign-ins cross the network readable. Turn on TLS for the database connection.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>unknown</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Sent by the {relay}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Encryption: none (local server only)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Not encrypted: codes cross the network readable.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>DeliveryTest</name>
    <message>
        <source>Send test code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Send a test code to</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Uses the saved settings; the code in it is valid nowhere.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>FirstRunDialog</name>
    <message>
        <source>First administrator</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The administrator could not be created</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Creating the administrator…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Welcome to pmdesk</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This database has no users yet. Create the first administrator: this account joins the Administrator group and can then add everybody else under Maintenance → Organisation → Personnel.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>e.g. jsmets</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>name@example.com</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Login</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Forename</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Lastname</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Email</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Security codes are sent here once two-step authentication is on.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Password</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Confirm</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>At least 8 characters.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Confirm password</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Create administrator</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>GroupNameDialog</name>
    <message>
        <source>e.g. Reception desk</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>HelpdeskCodeDialog</name>
    <message>
        <source>Issue helpdesk code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>A one-time sign-in code for {name}, to read out over the phone. It works once, in the code step after their password, also while e-mail or SMS is down. A new code replaces the one issued before.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>e.g. Ticket 4711: phone lost</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source> min</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Reason or ticket</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Valid for</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Issue code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Helpdesk code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>&amp;Copy</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Close</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Read this code out to {name} ({login}):</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source> It replaces the code issued before.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Valid once, until {time}.{replaced} It is not shown again once you close this window.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>HelpdeskRow</name>
    <message>
        <source>Issue helpdesk code…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>A one-time sign-in code to read out over the phone</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel helpdesk code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No helpdesk code.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>A helpdesk code is live until {time} (issued by {who}: {reason}).</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>LockedNowBox</name>
    <message>
        <source>Locked now</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Where</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Until</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Left</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reload</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Unlock</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Unlock all…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{name} is unlocked everywhere.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Unlock all</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Unlock everyone locked now ({count})?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>They can sign in again at once, from every address. Each unlock is logged.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Unlocked: {count}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Left locked, as their user group has rights your own lacks: {names}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>everywhere</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Lock {n} in a row; {f} failures since; until {until}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Nobody is locked now.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Your user group needs Maintenance Edit to unlock.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>LockoutBox</name>
    <message>
        <source>Lockout</source>
        <extracomment>The settings&apos; names, in the order of the spin boxes. Saved: the settings as they are now (their new version), for the page.</extracomment>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Save</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Saving…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Not saved</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source> failures</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source> min</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Failures before a lock</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>First lock</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Longest lock</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Failures are counted per person and address: a guesser at one address locks the person out from there only. Each later lock doubles, up to the longest. {cap} failures from anywhere lock the person everywhere (NIST&apos;s cap).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Saved.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Your user group needs System → Security Edit to change this.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>LogPage</name>
    <message>
        <source>User (who acted, or whom it concerned)</source>
        <extracomment>Families of events, as ``AuditService.query(event=...)`` accepts them.</extracomment>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>User</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>IP or its start</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>IP address</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>An IP address (192.0.2.10), or how it starts (192.0.2.) for a whole block</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Event</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>All events</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Period</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>From</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>To</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>and</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reload (F5)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reload the log</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Export to CSV…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Log events</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trace this address…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Everyone who has the chosen event&apos;s address trusted, and every event there</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The export did not work</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The log could not be loaded</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No events match these filters.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>1 event</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{n} events</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Newest {n} events shown; scroll down for older ones.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Exporting…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Loading…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Export the log to CSV</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>CSV files (*.csv)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>All files (*)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>1 event exported to {path}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{n} events exported to {path}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The file could not be written: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>LoginCodePage</name>
    <message>
        <source>6-digit code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Security code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trust this IP</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Only tick this on your office network, never at home or on public Wi-Fi.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Send a new code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The security code could not be sent.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>A security code was sent to you.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>A new security code was sent to {destination}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>A security code was sent to {destination}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Enter the code the helpdesk gave you.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Or enter the code the helpdesk gave you.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>6 or 12 digits</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Not available: {reason}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This code has expired. Send a new code.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Valid for {time}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Send a new code ({seconds} s)</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>LoginDialog</name>
    <message>
        <source>Login</source>
        <extracomment>&quot;Set up pmdesk…&quot; was clicked (offered while the database has no users yet).</extracomment>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Version {version}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Password</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Back</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Set up pmdesk…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Create the first administrator of this database</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Opening database…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Enter your login.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Enter your password.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Signing in…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Enter the security code you received.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Checking the code…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Sending a new code…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Something went wrong while signing in ({name}). Try again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>A new code is on its way. Use the newest code.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Login refused.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>1 attempt left.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{n} attempts left.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MailSettingsBox</name>
    <message>
        <source>The test code could not be sent</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Code delivery</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Send codes by</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Save delivery settings</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>mobile number</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>e-mail address</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Save the settings first: the test uses the saved ones.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Each code is written as an .eml file to {folder}; nothing leaves this computer. For trying pmdesk out, not for real use.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>the default outbox</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Not saved: correct the fields marked in red.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The file could not be read: {problem}</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <source>Maintenance</source>
        <extracomment>The widest a status-bar text may be (a database path is shortened in its middle).</extracomment>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>System</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Your user group may not see any screen. Ask an administrator to grant it rights in System → Permissions.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Language</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Sign out</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Signed in as {name} ({login})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>from {address}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{where}
Database {url} ({source})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{language} is used for windows opened from now on.</source>
        <extracomment>How long a status message stays on screen.</extracomment>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{language} saved; this version of pmdesk is not yet translated.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>You have changes that are not saved. Discard them and {action}?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>sign out</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>close pmdesk</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>OfficeNetworksBox</name>
    <message>
        <source>Where addresses may be trusted</source>
        <extracomment>The trust policy&apos;s choices, as the combo box lists them. The policy was saved: the settings as they are now (their new version), for the page.</extracomment>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Office networks</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>With the trust policy “Only inside office networks”, “Trust this IP” is offered only to sign-ins from these ranges, as the database sees the address.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Save policy</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trust addresses</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Ranges</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>e.g. Head office</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>e.g. 10.1.0.0/16, 10.8.0.0/24</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>IP addresses or networks (CIDR), separated by commas.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Add network</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Change the trust policy</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trust addresses: {policy}?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Change</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trust policy saved: {policy}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Office network “{name}” added: {ranges}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove office network</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove the office network “{name}” ({ranges})?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Office network “{name}” removed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Your user group may not change System → Security.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PermissionGridView</name>
    <message>
        <source>{module}: {action}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{action} on {module}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Changed, not saved yet</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PermissionsPage</name>
    <message>
        <source>Save Permissions</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Undo changes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Read shows a screen, Edit allows changing it, Delete allows removing records in it; Edit and Delete include Read. People get their group&apos;s new rights the next time they sign in.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Permissions</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Not saved. </source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Groups or permissions were changed on another workstation. Your ticks here are not saved yet.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>1 module changed, not saved yet.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{n} modules changed, not saved yet.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Permissions of {group}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Permissions of {group} saved.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Group {group} created, without any right yet: tick what it may do, then Save Permissions.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>New user group</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Create</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Group renamed to {group}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Rename user group</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Rename</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Group {group} deleted.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Delete user group</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Delete the group {group}?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Delete group</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Its permissions are removed with it. This cannot be undone.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Discard your changes to the permissions of {group}?</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PersonAddress</name>
    <message>
        <source>Click here to change the address.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No address yet</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Click here to see the whole address.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PersonEditor</name>
    <message>
        <source>Personnel data</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Newsletter</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Invoicing</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Address</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Use e-mail for</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Security</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Whether this person is listed in the suite&apos;s separate apps. It has nothing to do with the password: pmdesk lists this person and lets them sign in either way.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Access</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Lets this person open the suite&apos;s separate apps. What they may see and do in pmdesk comes from their user group (System → Permissions).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Confirm password</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>select a location</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>select a usergroup</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>select a language</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>select a team</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>New person</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PersonFormPanel</name>
    <message>
        <source>Save</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Delete</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>View only: you have Read rights on Maintenance. Changing people needs Edit rights (System → Permissions).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Nobody is in the personnel list yet.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Click New to add the first person.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PersonLock</name>
    <message>
        <source>Unlock</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Locked until {time} after {n} failed logins.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Not locked.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{n} failed logins since the last success.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PersonSessions</name>
    <message>
        <source>Open sessions</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Where</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Address</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Workstation</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Last used</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No open sessions.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>End sessions</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Sign this person out everywhere: desktop apps and the command line</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>unknown</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PersonTrustedIps</name>
    <message>
        <source>Trusted IP addresses</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>IP</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Creation Date</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Expires</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No trusted addresses: this person enters a code at every login while two-step authentication is on.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Click the red icon to remove an address trusted by mistake (a home network, say): logins from there need a security code again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove this trusted address</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove {address}</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PersonnelList</name>
    <message>
        <source>Search name, number, login or e-mail</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Search personnel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>New</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reload the list (F5)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reload the list</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Personnel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>1 person matches</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{n} people match</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>1 person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{n} people</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The list could not be loaded</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PersonnelModel</name>
    <message>
        <source>Lastname</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Forename</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Number</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Login</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Email</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Usergroup</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Locked</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>PersonnelPage</name>
    <message>
        <source>{name} saved.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Your input is still here: Save adds it as a new person.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Not saved: {name} was changed on another workstation. Your changes are still in the form.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{name} was deleted.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>the new person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Discard your changes to {name}?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>That did not work</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>You cannot delete your own account.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ReadinessDialog</name>
    <message>
        <source>Turn on two-step authentication</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>1 person could not receive a security code.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{n} people could not receive a security code.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>With two-step authentication on, they could no longer sign in from an address that is not trusted. Codes go by: {delivery}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Everyone who can sign in can receive a security code.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>From now on, signing in from an address that is not trusted asks for a code sent by: {delivery}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>People who could not receive a code</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Give them an e-mail address (or a mobile number for SMS) in Maintenance → Personnel first, or turn it on anyway.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Enable anyway</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Enable</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SearchBox</name>
    <message>
        <source>Search</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Clear</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SecurityPage</name>
    <message>
        <source>The security settings were changed on another workstation. Your changes here are not saved yet; reload (F5) to see theirs.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Discard your changes to the security settings and reload?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Discard and reload</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Turn off two-step authentication</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Turn two-step authentication off?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Turn off</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>A password alone will be enough to sign in, from any address.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Two-step authentication is on.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Two-step authentication is off.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Settings saved, but the {what} was not stored in the keyring; it is still in its field. Save again once the keyring works.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Saved. Send a test code to check it works.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Test code for {to} written to {file}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Test code sent to {to} ({how}).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Sending a test code to {to}…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Your user group needs System → Security Edit to change this.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>TraceDialog</name>
    <message>
        <source>Trace {address}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trusted for</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Who has this address trusted</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>User</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Creation Date</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Expires</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Events at this address</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Time</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Actor</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Event</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Subject</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Workstation</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The trace could not be read</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reading…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trusted for nobody</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trusted for 1 person</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trusted for {n} people</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No events at this address</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Events at this address ({n}, newest first)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Seen there: {people}</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>TrustBox</name>
    <message>
        <source>Trust and codes</source>
        <extracomment>Something was typed or changed (the message and the fields&apos; errors are cleared).</extracomment>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source> days</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source> minutes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source> hours</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>How long `pmdesk login` keeps the command line signed in. The desktop app stays signed in while it is open.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>e.g. 10.0.0.5, 10.1.0.0/24</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Never trust these addresses</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Proxies and connection poolers: everyone behind them shares their address, so it is never trusted. IP addresses or networks, separated by commas.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>e.g. helpdesk@example.com (optional)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Helpdesk mailbox for trust alerts</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>When an address outside the office networks is trusted, the person gets an e-mail (&quot;Not you? Call the helpdesk&quot;); this mailbox gets a copy. One e-mail address; empty: only the person.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Save</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trust an address for</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>A code is valid for</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Never trust</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Command-line sessions last</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Helpdesk mailbox</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trusted addresses are removed automatically when their time is up; a shorter period applies at once. On a shared database (PostgreSQL, MariaDB), loopback, link-local and local-socket connections are never trusted either. A trust outside the office networks is announced by e-mail to the person and the helpdesk mailbox.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>TrustImpact</name>
    <message>
        <source>No trusted address is affected.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{effect}: their next sign-in asks for a code.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>TrustedIpPanel</name>
    <message>
        <source>Trusted IP addresses</source>
        <extracomment>The table shows a fresh page (after a reload, a filter, paging or a removal). Reload (F5) was clicked: the page reloads everything. &quot;Trace…&quot; for the one address selected: everyone and every event there.</extracomment>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>This is an overview of all IP addresses that are trusted. Click the red icon to remove one trusted by mistake (a home network, say): logins from there need a security code again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Nothing was removed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Nothing was put back</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Filter by user or address</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Filter trusted IP addresses</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reload (F5)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reload trusted IP addresses</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Trace…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Everyone who has the selected address trusted, and every event there</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove selected</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Previous</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Next</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No items found.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>more than {n}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Viewing items {first}-{last} of {total}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Page {page} of {pages}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No trusted address matches “{text}”.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No trusted address needs review.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No address is trusted at the moment.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>The trusted addresses could not be loaded</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Your user group may not remove trusted addresses: it needs System → Security Delete.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove the trusted address {address} of {user}?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove {n} trusted addresses?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>1 trusted address removed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{n} trusted addresses removed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{n} of {m} removed; the others were already gone (removed on another workstation or expired).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove trusted address</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Logins from there will need a security code again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Removed 1 trusted address.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Removed {n} trusted addresses.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Undo: put back the addresses just removed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>1 trusted address put back.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>{n} trusted addresses put back.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Nothing was put back: the time for Undo had passed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Remove selected ({n})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Your user group needs System → Security Delete to remove addresses.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>TwoStepBox</name>
    <message>
        <source>Two step authentication</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Status:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Turn on…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>How does it work? After the password, pmdesk asks for a 6-digit code sent to the user&apos;s e-mail address — unless they sign in from an address they trusted with &quot;Trust this IP&quot; (only on the office network).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>On</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Off</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Turn off…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Turn two-step authentication off (asks first)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Check who can receive a code, then turn two-step authentication on</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Your user group needs System → Security Edit to change this.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Signing in from an address that is not trusted asks for a security code.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>A password is enough to sign in.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>UndoBar</name>
    <message>
        <source>Undo</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>errors</name>
    <message>
        <source>{what} ({name}).</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>parent</name>
    <message>
        <source>Changed on another workstation</source>
        <extracomment>Where the conflict&apos;s sentence stays after the dialog (None: the operation&apos;s message).</extracomment>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Reload</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Keep my changes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Yes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>No</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Usergroup Selector</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>That did not work</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>self._box</name>
    <message>
        <source>Saved.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>self._owner</name>
    <message>
        <source>That did not work</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>self._page</name>
    <message>
        <source>{name} can sign in again.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Issuing…</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>self.login</name>
    <message>
        <source>No system keyring</source>
        <extracomment>Login works: the database answered at the newest schema with users (opened or not yet). The database is open and migrated, the login service loaded. Opening the database failed (the problem box is shown). The start-up and sign-in steps that run on workers (each names where its error goes).</extracomment>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>pmdesk keeps mail and database passwords only in the system keyring, and none is available on this computer. You can sign in, but passwords cannot be saved until a keyring is installed or unlocked.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Administrator {login} created. Sign in with your new password.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Another workstation created the first user meanwhile: sign in with it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>There are no users yet: click “Set up pmdesk…” to create the first administrator.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Opening pmdesk…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>pmdesk could not open its main window</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>You were signed out: {why} Sign in again to go on.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>widgets</name>
    <message>
        <source>Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Unsaved changes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Discard changes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Keep editing</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>window</name>
    <message>
        <source>Personnel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Organisation</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Permissions</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Log</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <source>Security</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>
