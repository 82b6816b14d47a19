//! Step Functions ARNs: a state machine's
//! (`arn:aws:states:{region}:{account}:stateMachine:{name}`) and its executions'
//! (`arn:aws:states:{region}:{account}:execution:{machine}:{execution name}`), and the rules for
//! names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ExecutorError;

/// The ARN of a state machine, `arn:{partition}:states:{region}:{account}:stateMachine:{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StateMachineArn {
    partition: String,
    region: String,
    account: String,
    name: String,
}

impl StateMachineArn {
    /// The ARN of state machine `name` in partition `aws`.
    pub fn new(region: &str, account: &str, name: &str) -> Result<Self, ExecutorError> {
        let arn = StateMachineArn {
            partition: "aws".to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
        };
        // Round-trip through the parser so every constructed ARN is a parseable one.
        arn.to_string().parse()
    }

    /// The state machine's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The ARN of this state machine's execution `execution_name` (not checked; see
    /// [`validate_name`]).
    pub fn execution_arn(&self, execution_name: &str) -> String {
        format!(
            "arn:{}:states:{}:{}:execution:{}:{}",
            self.partition, self.region, self.account, self.name, execution_name
        )
    }

    /// Splits an execution ARN ([`ExecutionArn`]'s rules) into its state machine's ARN and the
    /// execution name.
    pub fn parse_execution_arn(arn: &str) -> Result<(StateMachineArn, String), ExecutorError> {
        let invalid = || ExecutorError::InvalidArn(arn.to_owned());
        let execution: ExecutionArn = arn.parse().map_err(|_| invalid())?;
        let (machine, name) = execution.as_str().rsplit_once(':').ok_or_else(invalid)?;
        let machine_arn: StateMachineArn =
            machine.replacen(":execution:", ":stateMachine:", 1).parse().map_err(|_| invalid())?;
        Ok((machine_arn, name.to_owned()))
    }
}

impl fmt::Display for StateMachineArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "arn:{}:states:{}:{}:stateMachine:{}", self.partition, self.region, self.account, self.name)
    }
}

impl FromStr for StateMachineArn {
    type Err = ExecutorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || ExecutorError::InvalidArn(s.to_owned());
        let parts: Vec<&str> = s.split(':').collect();
        let [prefix, partition, service, region, account, kind, name] = parts[..] else {
            return Err(invalid());
        };
        if prefix != "arn" || service != "states" || kind != "stateMachine" || partition.is_empty() {
            return Err(invalid());
        }
        if region.is_empty() || !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(invalid());
        }
        if account.is_empty() || !account.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid());
        }
        validate_name(name).map_err(|_| invalid())?;
        Ok(StateMachineArn {
            partition: partition.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// An execution's ARN, `arn:{partition}:states:{region}:{account}:execution:{machine}:{name}`: the one
/// check of execution ARNs, for the executor, the order pipeline's ports and the REST API alike.
/// It admits exactly
/// `^arn:aws[A-Za-z0-9-]*:states:[A-Za-z0-9-]+:[0-9]{12}:execution:[A-Za-z0-9_-]{1,80}:[A-Za-z0-9_-]{1,80}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExecutionArn(String);

/// Text that is not an execution ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("execution_arn must look like arn:aws:states:REGION:ACCOUNT:execution:STATE_MACHINE:NAME")]
pub struct InvalidExecutionArn;

impl ExecutionArn {
    /// The ARN of execution `name` of the state machine `state_machine_arn`
    /// (`arn:aws:states:…:stateMachine:NAME`), as Step Functions names it.
    pub fn for_execution(state_machine_arn: &str, name: &str) -> Result<Self, InvalidExecutionArn> {
        let prefix = state_machine_arn.replacen(":stateMachine:", ":execution:", 1);
        format!("{prefix}:{name}").parse()
    }

    /// The execution's name (the last segment).
    pub fn name(&self) -> &str {
        self.0.rsplit(':').next().unwrap_or_default()
    }

    /// The ARN text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ExecutionArn {
    type Err = InvalidExecutionArn;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let plain =
            |s: &str, also: &[u8]| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || also.contains(&b));
        let name = |s: &str| s.len() <= 80 && plain(s, b"-_");
        let parts: Vec<&str> = text.split(':').collect();
        let [prefix, partition, service, region, account, kind, machine, execution] = parts[..] else {
            return Err(InvalidExecutionArn);
        };
        let ok = prefix == "arn"
            && partition.strip_prefix("aws").is_some_and(|rest| rest.is_empty() || plain(rest, b"-"))
            && service == "states"
            && plain(region, b"-")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && kind == "execution"
            && name(machine)
            && name(execution);
        if ok { Ok(ExecutionArn(text.to_owned())) } else { Err(InvalidExecutionArn) }
    }
}

impl TryFrom<String> for ExecutionArn {
    type Error = InvalidExecutionArn;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<ExecutionArn> for String {
    fn from(arn: ExecutionArn) -> Self {
        arn.0
    }
}

impl fmt::Display for ExecutionArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a state machine or execution name against the Step Functions rules: 1 to 80
/// characters, no whitespace, brackets (`< > { } [ ]`), wildcards (`? *`), special characters
/// (`" # % \ ^ | ~ ` $ & , ; : /`) or control characters.
pub fn validate_name(name: &str) -> Result<(), ExecutorError> {
    let refuse = |reason: &str| ExecutorError::InvalidName { name: name.to_owned(), reason: reason.to_owned() };
    let length = name.chars().count();
    if length == 0 || length > 80 {
        return Err(refuse("must be 1 to 80 characters"));
    }
    if let Some(c) =
        name.chars().find(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(*c))
    {
        return Err(refuse(&format!("must not contain {c:?}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn execution_arns_need_a_plain_partition_region_account_and_names() {
        let valid = |arn: &str| arn.parse::<ExecutionArn>().is_ok();
        assert!(valid("arn:aws:states:us-east-1:123456789012:execution:OrderProcessing:x"));
        assert!(valid("arn:aws-cn:states:cn-north-1:123456789012:execution:M:x"));
        assert!(valid("arn:aws:states:US-EAST-1:123456789012:execution:Other_Machine:a-b_c"));
        for refused in [
            "",
            "arn:aws",
            "arn:aws:states:\u{83}:123456789012:execution:M:x",
            "arn:aws\u{e}:states:us-east-1:123456789012:execution:M:x",
            "arn:aws:states::123456789012:execution:M:x",
            "arn:aws:states:us east:123456789012:execution:M:x",
            "arn:gcp:states:us-east-1:123456789012:execution:M:x",
            "arn:aws:states:us-east-1:12345678901:execution:M:x",
            "arn:aws:states:us-east-1:123456789012:stateMachine:M:x",
            "arn:aws:states:us-east-1:123456789012:execution:M:x.y",
            "arn:aws:states:us-east-1:123456789012:execution:M:x:y",
            "arn:aws:s3:::bucket",
        ] {
            assert!(!valid(refused), "{refused:?}");
        }
        assert!(!valid(&format!("arn:aws:states:us-east-1:123456789012:execution:M:{}", "n".repeat(81))));
        let arn: ExecutionArn = "arn:aws:states:us-east-1:123456789012:execution:M:order-1".parse().unwrap();
        assert_eq!((arn.name(), arn.to_string().as_str()), ("order-1", arn.as_str()));
    }

    #[test]
    fn given_region_account_and_name_when_formatted_then_arns_have_the_step_functions_shape() {
        let machine = StateMachineArn::new("eu-west-1", "123456789012", "orders").unwrap();
        assert_eq!(machine.to_string(), "arn:aws:states:eu-west-1:123456789012:stateMachine:orders");
        assert_eq!(machine.execution_arn("order-1"), "arn:aws:states:eu-west-1:123456789012:execution:orders:order-1");
    }

    #[test]
    fn given_an_execution_arn_when_parsed_then_machine_and_name_come_back() {
        let (machine, name) =
            StateMachineArn::parse_execution_arn("arn:aws:states:us-east-1:000000000000:execution:m:e-1").unwrap();
        assert_eq!(machine.to_string(), "arn:aws:states:us-east-1:000000000000:stateMachine:m");
        assert_eq!(name, "e-1");
        assert!(StateMachineArn::parse_execution_arn("arn:aws:states:us-east-1:0:stateMachine:m").is_err());
        assert!("arn:aws:lambda:us-east-1:0:function:f".parse::<StateMachineArn>().is_err());
    }

    #[test]
    fn given_bad_names_when_validated_then_refused() {
        assert!(validate_name("ok-name_1.2").is_ok());
        for bad in ["", "has space", "a:b", "a/b", "a*", "{x}", &"x".repeat(81)] {
            assert!(validate_name(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
