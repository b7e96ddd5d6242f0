//! CloudTrail records of an IAM user: console sign-ins and role assumptions. CloudTrail
//! carries no location and says only whether MFA was used, not which factor.

use serde_json::{Value, json};

use super::{account_name, user_agent};
use crate::synth::company::Person;
use crate::synth::fnv1a_64;
use crate::synth::rng::Rng;

/// A record being written: the fields every call of the user carries, then one call's own.
pub struct Call<'a> {
    event: Value,
    account: &'a str,
    user: &'a str,
}

impl<'a> Call<'a> {
    /// A call at `t` by `person`'s IAM user in AWS account `account`.
    pub fn new(rng: &mut Rng, t: i64, person: &'a Person, account: &'a str) -> Self {
        let user = account_name(person);
        let event = json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "principalId": format!("AIDA{:016X}", fnv1a_64(user) >> 4),
                "arn": format!("arn:aws:iam::{account}:user/{user}"), "accountId": account, "userName": user},
            "eventTime": chrono::DateTime::from_timestamp_millis(t).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "awsRegion": "eu-central-1",
            "sourceIPAddress": person.public_ip,
            "userAgent": user_agent(person),
            "eventID": rng.uuid(),
            "recipientAccountId": account,
        });
        Self {
            event,
            account,
            user,
        }
    }

    /// A console sign-in, with MFA when it succeeds.
    pub fn console_login(self, ok: bool) -> String {
        let mut event = self.event;
        event["eventSource"] = json!("signin.amazonaws.com");
        event["eventName"] = json!("ConsoleLogin");
        event["eventType"] = json!("AwsConsoleSignIn");
        event["responseElements"] = json!({"ConsoleLogin": if ok { "Success" } else { "Failure" }});
        event["additionalEventData"] = json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": if ok { "Yes" } else { "No" }});
        if !ok {
            event["errorMessage"] = json!("Failed authentication");
        }
        event.to_string()
    }

    /// An `sts:AssumeRole` of the account's role `role`, refused when `denied`.
    pub fn assume_role(self, rng: &mut Rng, role: &str, denied: bool) -> String {
        let Self {
            mut event,
            account,
            user,
        } = self;
        event["eventSource"] = json!("sts.amazonaws.com");
        event["eventName"] = json!("AssumeRole");
        event["requestParameters"] = json!({"roleArn": format!("arn:aws:iam::{account}:role/{role}"), "roleSessionName": user});
        if denied {
            event["errorCode"] = json!("AccessDenied");
            event["errorMessage"] = json!(format!(
                "User: arn:aws:iam::{account}:user/{user} is not authorized to perform: sts:AssumeRole"
            ));
        }
        event["requestID"] = json!(rng.uuid());
        event.to_string()
    }
}
