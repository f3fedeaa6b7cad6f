//! The type-name parser: a small tokenizer and a recursive descent over ClickHouse's type grammar,
//! with the SQL aliases ClickHouse's `DataTypeFactory` accepts case-insensitively.

use super::{AggregateFunction, DataType, FunctionCall, TupleElement};
use crate::ErrorCode;
use crate::error::{Error, Result};

/// Deepest nesting accepted (`Array(Array(...))`), so a hostile name cannot overflow the stack.
const NESTING_DEPTH_MAX: usize = 64;
/// The longest `FixedString` ClickHouse creates (`MAX_FIXEDSTRING_SIZE`, 16 MiB - 1).
const FIXED_STRING_BYTES_MAX: u64 = 0xFF_FFFF;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A bare word: `UInt8`, `Nullable`, an element name.
    Word(String),
    /// A back-quoted identifier.
    Quoted(String),
    /// A single-quoted string literal, unescaped.
    Str(String),
    /// A number literal as written (`15`, `-2`, `0.5`, `1e3`).
    Number(String),
    /// `(`, `)`, `,`, `=`, `[`, `]`.
    Punct(char),
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<(usize, Token)>,
    next: usize,
    depth: usize,
}

pub(super) fn parse_type(text: &str) -> Result<DataType> {
    let mut parser = Parser {
        text,
        tokens: tokenize(text)?,
        next: 0,
        depth: 0,
    };
    let data_type = parser.data_type()?;
    if let Some((position, token)) = parser.tokens.get(parser.next) {
        return Err(parser.syntax(*position, format!("unexpected {token:?} after the type")));
    }
    Ok(data_type)
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut index = 0;
    let syntax = |position: usize, reason: &str| Error::TypeSyntax {
        text: text.to_string(),
        position,
        reason: reason.to_string(),
    };
    while index < bytes.len() {
        let start = index;
        let byte = bytes[index];
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => index += 1,
            b'(' | b')' | b',' | b'=' | b'[' | b']' => {
                tokens.push((start, Token::Punct(byte as char)));
                index += 1;
            }
            b'\'' | b'`' => {
                let (value, end) = read_quoted(text, start)
                    .ok_or_else(|| syntax(start, "unterminated quoted text"))?;
                tokens.push((
                    start,
                    if byte == b'`' {
                        Token::Quoted(value)
                    } else {
                        Token::Str(value)
                    },
                ));
                index = end;
            }
            b'-' | b'+' | b'.' | b'0'..=b'9' => {
                index += 1;
                while index < bytes.len() {
                    let c = bytes[index];
                    let exponent_sign =
                        (c == b'-' || c == b'+') && matches!(bytes[index - 1], b'e' | b'E');
                    if c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || exponent_sign {
                        index += 1;
                    } else {
                        break;
                    }
                }
                tokens.push((start, Token::Number(text[start..index].to_string())));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while index < bytes.len()
                    && (bytes[index].is_ascii_alphanumeric() || bytes[index] == b'_')
                {
                    index += 1;
                }
                tokens.push((start, Token::Word(text[start..index].to_string())));
            }
            _ => return Err(syntax(start, "unexpected character")),
        }
    }
    Ok(tokens)
}

/// Reads a quoted literal starting at `start` (on the quote); returns the unescaped text and the
/// index after the closing quote. Backslash escapes and doubled quotes are accepted.
fn read_quoted(text: &str, start: usize) -> Option<(String, usize)> {
    let quote = text.as_bytes()[start] as char;
    let mut value = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((offset, ch)) = chars.next() {
        if ch == '\\' {
            let (_, escaped) = chars.next()?;
            value.push(match escaped {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '0' => '\0',
                other => other,
            });
        } else if ch == quote {
            let after = start + 1 + offset + 1;
            if text[after..].starts_with(quote) {
                value.push(quote);
                chars.next();
                continue;
            }
            return Some((value, after));
        } else {
            value.push(ch);
        }
    }
    None
}

impl Parser<'_> {
    fn syntax(&self, position: usize, reason: impl Into<String>) -> Error {
        Error::TypeSyntax {
            text: self.text.to_string(),
            position,
            reason: reason.into(),
        }
    }

    fn illegal(&self, code: ErrorCode, reason: impl Into<String>) -> Error {
        Error::IllegalType {
            type_name: self.text.to_string(),
            reason: reason.into(),
            code,
        }
    }

    fn position(&self) -> usize {
        self.tokens
            .get(self.next)
            .map_or(self.text.len(), |(position, _)| *position)
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|(_, token)| token)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Token> {
        self.tokens.get(self.next + ahead).map(|(_, token)| token)
    }

    fn bump(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.next).map(|(_, token)| token.clone());
        self.next += 1;
        token
    }

    fn eat(&mut self, punct: char) -> bool {
        if self.peek() == Some(&Token::Punct(punct)) {
            self.next += 1;
            return true;
        }
        false
    }

    fn expect(&mut self, punct: char) -> Result<()> {
        if self.eat(punct) {
            return Ok(());
        }
        Err(self.syntax(self.position(), format!("expected '{punct}'")))
    }

    fn word(&mut self, what: &str) -> Result<String> {
        match self.bump() {
            Some(Token::Word(word)) | Some(Token::Quoted(word)) => Ok(word),
            _ => Err(self.syntax(self.position(), format!("expected {what}"))),
        }
    }

    fn unsigned(&mut self, what: &str) -> Result<u64> {
        let position = self.position();
        match self.bump() {
            Some(Token::Number(text)) => text.parse().map_err(|_| {
                self.syntax(position, format!("{what} must be a non-negative integer"))
            }),
            _ => Err(self.syntax(position, format!("expected {what}"))),
        }
    }

    fn string(&mut self, what: &str) -> Result<String> {
        match self.bump() {
            Some(Token::Str(value)) => Ok(value),
            _ => Err(self.syntax(
                self.position(),
                format!("expected {what} as a quoted string"),
            )),
        }
    }

    /// A comma-separated list inside parentheses that the caller has opened.
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Result<T>) -> Result<Vec<T>> {
        let mut items = Vec::new();
        if self.eat(')') {
            return Ok(items);
        }
        loop {
            items.push(item(self)?);
            if self.eat(')') {
                return Ok(items);
            }
            self.expect(',')?;
        }
    }

    fn data_type(&mut self) -> Result<DataType> {
        self.depth += 1;
        if self.depth > NESTING_DEPTH_MAX {
            return Err(self.illegal(
                ErrorCode::TOO_DEEP_RECURSION,
                format!("nested deeper than {NESTING_DEPTH_MAX} levels"),
            ));
        }
        let position = self.position();
        let name = match self.bump() {
            Some(Token::Word(word)) => word,
            _ => return Err(self.syntax(position, "expected a type name")),
        };
        let result = self.family(&name);
        self.depth -= 1;
        result
    }

    fn inner(&mut self) -> Result<Box<DataType>> {
        self.expect('(')?;
        let inner = self.data_type()?;
        self.expect(')')?;
        Ok(Box::new(inner))
    }

    fn family(&mut self, name: &str) -> Result<DataType> {
        let simple = match name {
            "UInt8" => Some(DataType::UInt8),
            "UInt16" => Some(DataType::UInt16),
            "UInt32" => Some(DataType::UInt32),
            "UInt64" => Some(DataType::UInt64),
            "UInt128" => Some(DataType::UInt128),
            "UInt256" => Some(DataType::UInt256),
            "Int8" => Some(DataType::Int8),
            "Int16" => Some(DataType::Int16),
            "Int32" => Some(DataType::Int32),
            "Int64" => Some(DataType::Int64),
            "Int128" => Some(DataType::Int128),
            "Int256" => Some(DataType::Int256),
            "Float32" => Some(DataType::Float32),
            "Float64" => Some(DataType::Float64),
            "String" => Some(DataType::String),
            "UUID" => Some(DataType::Uuid),
            "IPv4" => Some(DataType::IPv4),
            "IPv6" => Some(DataType::IPv6),
            "Nothing" => Some(DataType::Nothing),
            _ => None,
        };
        if let Some(data_type) = simple {
            if self.peek() == Some(&Token::Punct('(')) {
                return Err(self.illegal(
                    ErrorCode::DATA_TYPE_CANNOT_HAVE_ARGUMENTS,
                    format!("{name} cannot have arguments"),
                ));
            }
            return Ok(data_type);
        }
        match name {
            "Nullable" => {
                let inner = self.inner()?;
                if !inner.can_be_inside_nullable() {
                    return Err(self.illegal(
                        ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                        format!("nested type {inner} cannot be inside Nullable type"),
                    ));
                }
                Ok(DataType::Nullable(inner))
            }
            "LowCardinality" => {
                let inner = self.inner()?;
                if !inner.can_be_inside_low_cardinality() {
                    return Err(self.illegal(
                        ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
                        format!("LowCardinality is supported only for numbers, strings, Date or DateTime, but got {inner}"),
                    ));
                }
                Ok(DataType::LowCardinality(inner))
            }
            "Array" => Ok(DataType::Array(self.inner()?)),
            "Tuple" => self.tuple(),
            "Map" => {
                self.expect('(')?;
                let key = self.data_type()?;
                self.expect(',')?;
                let value = self.data_type()?;
                self.expect(')')?;
                if key.is_nullable()
                    || matches!(key, DataType::LowCardinality(ref inner) if inner.is_nullable())
                {
                    return Err(self.illegal(
                        ErrorCode::BAD_ARGUMENTS,
                        format!("Map cannot have a key of type {key}"),
                    ));
                }
                Ok(DataType::Map(Box::new(key), Box::new(value)))
            }
            "FixedString" => {
                self.expect('(')?;
                let n = self.unsigned("the FixedString length")?;
                self.expect(')')?;
                if n == 0 {
                    return Err(self.illegal(
                        ErrorCode::UNEXPECTED_AST_STRUCTURE,
                        "FixedString length must be a positive integer",
                    ));
                }
                self.fixed_string(n)
            }
            "Date" | "Date32" | "Bool" | "DateTime" | "DateTime32" | "DateTime64" | "Decimal"
            | "Decimal32" | "Decimal64" | "Decimal128" | "Decimal256" | "Enum8" | "Enum16" => {
                self.with_arguments(name)
            }
            "AggregateFunction" => self.aggregate_function(),
            "SimpleAggregateFunction" => {
                self.expect('(')?;
                let call = self.function_call()?;
                self.expect(',')?;
                let inner = self.data_type()?;
                self.expect(')')?;
                Ok(DataType::SimpleAggregateFunction(call, Box::new(inner)))
            }
            "Nested" | "JSON" | "Object" | "Dynamic" | "Variant" | "Time" | "Time64" | "Point"
            | "Ring" | "Polygon" | "MultiPolygon" | "LineString" | "MultiLineString"
            | "Geometry" | "BFloat16" | "Interval" => Err(Error::NotImplemented(format!(
                "data type {name} (in type name '{}')",
                self.text
            ))),
            _ => self.alias(name),
        }
    }

    /// `FixedString(n)` for a positive `n`, at most ClickHouse's `MAX_FIXEDSTRING_SIZE`: every row
    /// of the column takes `n` bytes, and a type name from a peer must not size rows of gigabytes.
    fn fixed_string(&self, n: u64) -> Result<DataType> {
        if n > FIXED_STRING_BYTES_MAX {
            return Err(self.illegal(
                ErrorCode::ARGUMENT_OUT_OF_BOUND,
                format!("FixedString size {n} is too large (at most {FIXED_STRING_BYTES_MAX})"),
            ));
        }
        Ok(DataType::FixedString(n as usize))
    }

    /// Families whose arguments are literals: dates, decimals, enums.
    fn with_arguments(&mut self, name: &str) -> Result<DataType> {
        let has_arguments = self.peek() == Some(&Token::Punct('('));
        match (name, has_arguments) {
            ("Date", false) => Ok(DataType::Date),
            ("Date32", false) => Ok(DataType::Date32),
            ("Bool", false) => Ok(DataType::Bool),
            ("DateTime" | "DateTime32", false) => Ok(DataType::DateTime(None)),
            ("DateTime" | "DateTime32", true) => {
                self.expect('(')?;
                let tz = self.string("the time zone")?;
                self.expect(')')?;
                Ok(DataType::DateTime(Some(tz)))
            }
            ("DateTime64", true) => self.datetime64_arguments(),
            ("Decimal", _) => self.decimal(None),
            ("Decimal32", true) => self.decimal(Some(9)),
            ("Decimal64", true) => self.decimal(Some(18)),
            ("Decimal128", true) => self.decimal(Some(38)),
            ("Decimal256", true) => self.decimal(Some(76)),
            ("Enum8", true) => Ok(DataType::Enum8(self.enum_items::<i8>("Enum8")?)),
            ("Enum16", true) => Ok(DataType::Enum16(self.enum_items::<i16>("Enum16")?)),
            ("Enum8" | "Enum16", false) => Err(self.illegal(
                ErrorCode::EMPTY_DATA_PASSED,
                format!("{name} needs at least one item"),
            )),
            (_, true) => Err(self.illegal(
                ErrorCode::DATA_TYPE_CANNOT_HAVE_ARGUMENTS,
                format!("{name} cannot have arguments"),
            )),
            (_, false) => Err(self.illegal(
                ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                format!("{name} needs arguments"),
            )),
        }
    }

    fn datetime64_arguments(&mut self) -> Result<DataType> {
        self.expect('(')?;
        let precision = self.unsigned("the DateTime64 precision")?;
        let tz = if self.eat(',') {
            Some(self.string("the time zone")?)
        } else {
            None
        };
        self.expect(')')?;
        if precision > 9 {
            return Err(self.illegal(
                ErrorCode::ARGUMENT_OUT_OF_BOUND,
                format!("scale {precision} is too large for DateTime64, the maximum is 9"),
            ));
        }
        Ok(DataType::DateTime64(precision as u8, tz))
    }

    /// `Decimal(P[, S])` (precision given) or `DecimalNN(S)` (precision implied).
    fn decimal(&mut self, implied_precision: Option<u64>) -> Result<DataType> {
        let (precision, scale) = match implied_precision {
            Some(precision) => {
                self.expect('(')?;
                let scale = self.unsigned("the Decimal scale")?;
                self.expect(')')?;
                (precision, scale)
            }
            None if self.eat('(') => {
                let precision = self.unsigned("the Decimal precision")?;
                let scale = if self.eat(',') {
                    self.unsigned("the Decimal scale")?
                } else {
                    0
                };
                self.expect(')')?;
                (precision, scale)
            }
            None => (10, 0),
        };
        if !(1..=76).contains(&precision) {
            return Err(self.illegal(
                ErrorCode::ARGUMENT_OUT_OF_BOUND,
                format!("wrong precision: it must be between 1 and 76, got {precision}"),
            ));
        }
        if scale > precision {
            return Err(self.illegal(
                ErrorCode::ARGUMENT_OUT_OF_BOUND,
                format!("scale {scale} is larger than precision {precision}"),
            ));
        }
        Ok(DataType::Decimal(precision as u8, scale as u8))
    }

    fn enum_items<V>(&mut self, family: &str) -> Result<Vec<(String, V)>>
    where
        V: TryFrom<i64> + Ord + Copy + std::fmt::Display,
    {
        self.expect('(')?;
        let mut next_value = 1i64;
        let raw = self.list(|parser| {
            let name = parser.string("an enum item name")?;
            let value = if parser.eat('=') {
                let position = parser.position();
                match parser.bump() {
                    Some(Token::Number(text)) => text
                        .parse::<i64>()
                        .map_err(|_| parser.syntax(position, "enum value must be an integer"))?,
                    _ => return Err(parser.syntax(position, "expected an enum value")),
                }
            } else {
                next_value
            };
            // An item without a value takes the next one; past i64 there is none (the range
            // check below refuses such a value anyway, with its name).
            next_value = value.saturating_add(1);
            Ok((name, value))
        })?;
        if raw.is_empty() {
            return Err(self.illegal(
                ErrorCode::EMPTY_DATA_PASSED,
                format!("{family} needs at least one item"),
            ));
        }
        let mut items = Vec::with_capacity(raw.len());
        for (name, value) in raw {
            let narrow = V::try_from(value).map_err(|_| {
                self.illegal(
                    ErrorCode::ARGUMENT_OUT_OF_BOUND,
                    format!("value {value} for element '{name}' exceeds range of {family}"),
                )
            })?;
            items.push((name, narrow));
        }
        items.sort_by_key(|(_, value)| *value);
        for pair in items.windows(2) {
            if pair[0].1 == pair[1].1 {
                return Err(self.illegal(
                    ErrorCode::SYNTAX_ERROR,
                    format!("duplicate value {} in {family}", pair[0].1),
                ));
            }
        }
        let mut names: Vec<&String> = items.iter().map(|(name, _)| name).collect();
        names.sort();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(self.illegal(
                ErrorCode::SYNTAX_ERROR,
                format!("duplicate name '{}' in {family}", pair[0]),
            ));
        }
        Ok(items)
    }

    fn tuple(&mut self) -> Result<DataType> {
        self.expect('(')?;
        let elements = self.list(|parser| {
            let named = matches!(parser.peek(), Some(Token::Word(_)) | Some(Token::Quoted(_)))
                && matches!(parser.peek_at(1), Some(Token::Word(_)));
            let name = if named {
                Some(parser.word("an element name")?)
            } else {
                None
            };
            Ok(TupleElement {
                name,
                data_type: parser.data_type()?,
            })
        })?;
        let named = elements.iter().filter(|e| e.name.is_some()).count();
        if named != 0 && named != elements.len() {
            return Err(self.illegal(
                ErrorCode::BAD_ARGUMENTS,
                "names are specified not for all elements of Tuple type",
            ));
        }
        Ok(DataType::Tuple(elements))
    }

    fn function_call(&mut self) -> Result<FunctionCall> {
        let name = self.word("an aggregate function name")?;
        let mut parameters = Vec::new();
        if self.eat('(') {
            parameters = self.list(|parser| parser.literal())?;
        }
        Ok(FunctionCall { name, parameters })
    }

    /// A parameter literal, printed back in ClickHouse's form.
    fn literal(&mut self) -> Result<String> {
        let position = self.position();
        match self.bump() {
            Some(Token::Number(text)) => Ok(text),
            Some(Token::Str(value)) => Ok(quote(&value)),
            Some(Token::Word(word))
                if matches!(
                    word.to_ascii_lowercase().as_str(),
                    "null" | "true" | "false" | "inf" | "nan"
                ) =>
            {
                Ok(word)
            }
            Some(Token::Punct('[')) => {
                // Array literals nest too: bounded like types, or `[[[[...` overflows the stack.
                self.depth += 1;
                if self.depth > NESTING_DEPTH_MAX {
                    return Err(self.illegal(
                        ErrorCode::TOO_DEEP_RECURSION,
                        format!("parameter literal nested deeper than {NESTING_DEPTH_MAX} levels"),
                    ));
                }
                let result = self.array_literal();
                self.depth -= 1;
                result
            }
            _ => Err(self.syntax(position, "expected a literal parameter")),
        }
    }

    /// The items of an array literal after its `[`, and the closing `]`.
    fn array_literal(&mut self) -> Result<String> {
        let mut items = Vec::new();
        if !self.eat(']') {
            loop {
                items.push(self.literal()?);
                if self.eat(']') {
                    break;
                }
                self.expect(',')?;
            }
        }
        Ok(format!("[{}]", items.join(", ")))
    }

    fn aggregate_function(&mut self) -> Result<DataType> {
        self.expect('(')?;
        let version = match self.peek() {
            Some(Token::Number(_)) => {
                let version = self.unsigned("the state version")?;
                self.expect(',')?;
                Some(version)
            }
            _ => None,
        };
        let function = self.function_call()?;
        let mut arguments = Vec::new();
        while self.eat(',') {
            arguments.push(self.data_type()?);
        }
        self.expect(')')?;
        Ok(DataType::AggregateFunction(AggregateFunction {
            version,
            function,
            arguments,
        }))
    }

    /// The case-insensitive SQL aliases of ClickHouse's `DataTypeFactory` (checked against ClickHouse 26.9).
    fn alias(&mut self, name: &str) -> Result<DataType> {
        let upper = name.to_ascii_uppercase();
        let integer = match upper.as_str() {
            "TINYINT" | "INT1" | "BYTE" => Some((DataType::Int8, DataType::UInt8)),
            "SMALLINT" => Some((DataType::Int16, DataType::UInt16)),
            "INT" | "INTEGER" | "MEDIUMINT" => Some((DataType::Int32, DataType::UInt32)),
            "BIGINT" => Some((DataType::Int64, DataType::UInt64)),
            _ => None,
        };
        if let Some((signed, unsigned)) = integer {
            self.skip_display_width()?;
            return Ok(match self.peek() {
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("UNSIGNED") => {
                    self.next += 1;
                    unsigned
                }
                Some(Token::Word(w)) if w.eq_ignore_ascii_case("SIGNED") => {
                    self.next += 1;
                    signed
                }
                _ => signed,
            });
        }
        let data_type = match upper.as_str() {
            "SIGNED" => DataType::Int64,
            "UNSIGNED" | "BIT" => DataType::UInt64,
            "YEAR" => DataType::UInt16,
            "FLOAT" | "REAL" | "SINGLE" => {
                self.skip_display_width()?;
                DataType::Float32
            }
            "DOUBLE" => {
                if matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case("PRECISION"))
                {
                    self.next += 1;
                }
                self.skip_display_width()?;
                DataType::Float64
            }
            "BOOL" | "BOOLEAN" => DataType::Bool,
            "DATE" => DataType::Date,
            "DATE32" => DataType::Date32,
            "DATETIME" | "TIMESTAMP" | "DATETIME32" => {
                if self.peek() == Some(&Token::Punct('(')) {
                    if matches!(self.peek_at(1), Some(Token::Number(_))) {
                        return self.datetime64_arguments();
                    }
                    self.expect('(')?;
                    let tz = self.string("the time zone")?;
                    self.expect(')')?;
                    return Ok(DataType::DateTime(Some(tz)));
                }
                DataType::DateTime(None)
            }
            "DATETIME64" => {
                if self.peek() != Some(&Token::Punct('(')) {
                    return Err(self.illegal(
                        ErrorCode::NUMBER_OF_ARGUMENTS_DOESNT_MATCH,
                        "DateTime64 needs a precision",
                    ));
                }
                return self.datetime64_arguments();
            }
            "DECIMAL" | "DEC" | "NUMERIC" | "FIXED" => return self.decimal(None),
            "ENUM" => return self.enum_auto_width(),
            "ENUM8" => return Ok(DataType::Enum8(self.enum_items::<i8>("Enum8")?)),
            "ENUM16" => return Ok(DataType::Enum16(self.enum_items::<i16>("Enum16")?)),
            "INET4" => DataType::IPv4,
            "INET6" => DataType::IPv6,
            "BINARY" => {
                self.expect('(')?;
                let n = self.unsigned("the BINARY length")?;
                self.expect(')')?;
                if n == 0 {
                    return Err(self.illegal(
                        ErrorCode::UNEXPECTED_AST_STRUCTURE,
                        "BINARY length must be a positive integer",
                    ));
                }
                return self.fixed_string(n);
            }
            "CHAR" | "CHARACTER" | "NCHAR" | "VARCHAR" | "NVARCHAR" | "VARCHAR2" | "TEXT"
            | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB"
            | "LONGBLOB" | "CLOB" | "BYTEA" | "VARBINARY" | "NATIONAL" => {
                while matches!(self.peek(), Some(Token::Word(w)) if matches!(w.to_ascii_uppercase().as_str(), "VARYING" | "CHAR" | "CHARACTER"))
                {
                    self.next += 1;
                }
                self.skip_display_width()?;
                DataType::String
            }
            _ => {
                return Err(Error::UnknownType {
                    name: name.to_string(),
                    text: self.text.to_string(),
                });
            }
        };
        Ok(data_type)
    }

    /// `ENUM('a' = 1, ...)`: Enum8 when every value fits, else Enum16.
    fn enum_auto_width(&mut self) -> Result<DataType> {
        let start = self.next;
        match self.enum_items::<i8>("Enum8") {
            Ok(items) => Ok(DataType::Enum8(items)),
            Err(Error::IllegalType {
                code: ErrorCode::ARGUMENT_OUT_OF_BOUND,
                ..
            }) => {
                self.next = start;
                Ok(DataType::Enum16(self.enum_items::<i16>("Enum16")?))
            }
            Err(other) => Err(other),
        }
    }

    /// SQL display widths and lengths (`VARCHAR(255)`, `INT(11)`, `DOUBLE(10, 2)`) are accepted and ignored.
    fn skip_display_width(&mut self) -> Result<()> {
        if self.peek() == Some(&Token::Punct('('))
            && matches!(self.peek_at(1), Some(Token::Number(_)))
        {
            self.next += 1;
            self.list(|parser| parser.unsigned("a length"))?;
        }
        Ok(())
    }
}

fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('\'');
    for ch in value.chars() {
        match ch {
            '\'' => quoted.push_str("\\'"),
            '\\' => quoted.push_str("\\\\"),
            other => quoted.push(other),
        }
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) {
        let parsed = DataType::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed.to_string(), text, "printing the parse of {text}");
    }

    #[test]
    fn canonical_names_round_trip_exactly() {
        for text in [
            "UInt8",
            "UInt16",
            "UInt32",
            "UInt64",
            "UInt128",
            "UInt256",
            "Int8",
            "Int16",
            "Int32",
            "Int64",
            "Int128",
            "Int256",
            "Float32",
            "Float64",
            "Bool",
            "String",
            "FixedString(4)",
            "Date",
            "Date32",
            "DateTime",
            "DateTime('UTC')",
            "DateTime('Europe/Moscow')",
            "DateTime64(3)",
            "DateTime64(9, 'UTC')",
            "Decimal(9, 2)",
            "Decimal(76, 20)",
            "UUID",
            "IPv4",
            "IPv6",
            "Enum8('b' = -2, 'a' = 1)",
            "Enum16('y' = -1000, 'x' = 1000)",
            "Enum8('it\\'s' = 1, 'back\\\\slash' = 2)",
            "Nullable(Int32)",
            "Nullable(Nothing)",
            "LowCardinality(String)",
            "LowCardinality(Nullable(String))",
            "Array(Int32)",
            "Array(Array(UInt8))",
            "Array(LowCardinality(Nullable(String)))",
            "Tuple(UInt8, String)",
            "Tuple(a Int32, b Array(String))",
            "Tuple(`b c` String, d UInt8)",
            "Tuple()",
            "Map(String, UInt64)",
            "Map(LowCardinality(String), Array(UInt8))",
            "AggregateFunction(count)",
            "AggregateFunction(sum, UInt64)",
            "AggregateFunction(uniqCombined(15), UInt64)",
            "AggregateFunction(quantiles(0.5, 0.9), UInt64)",
            "AggregateFunction(1, sumMap, Array(UInt8), Array(UInt8))",
            "AggregateFunction(argMax, String, DateTime)",
            "SimpleAggregateFunction(sum, UInt64)",
            "SimpleAggregateFunction(anyLast, Nullable(String))",
            "Nothing",
        ] {
            round_trip(text);
        }
    }

    #[test]
    fn aliases_parse_to_what_clickhouse_prints() {
        for (alias, canonical) in [
            ("Decimal32(2)", "Decimal(9, 2)"),
            ("Decimal64(4)", "Decimal(18, 4)"),
            ("Decimal128(10)", "Decimal(38, 10)"),
            ("Decimal256(20)", "Decimal(76, 20)"),
            ("DECIMAL", "Decimal(10, 0)"),
            ("numeric(5)", "Decimal(5, 0)"),
            ("dec(3,1)", "Decimal(3, 1)"),
            ("Map(String,UInt64)", "Map(String, UInt64)"),
            ("Nullable( Int32 )", "Nullable(Int32)"),
            ("int", "Int32"),
            ("INTEGER", "Int32"),
            ("bigint", "Int64"),
            ("BIGINT UNSIGNED", "UInt64"),
            ("INT UNSIGNED", "UInt32"),
            ("TINYINT", "Int8"),
            ("SMALLINT UNSIGNED", "UInt16"),
            ("text", "String"),
            ("VARCHAR(255)", "String"),
            ("CHARACTER VARYING", "String"),
            ("binary(4)", "FixedString(4)"),
            ("timestamp", "DateTime"),
            ("TIMESTAMP(3)", "DateTime64(3)"),
            ("datetime", "DateTime"),
            ("DateTime32", "DateTime"),
            ("DOUBLE", "Float64"),
            ("DOUBLE PRECISION", "Float64"),
            ("float", "Float32"),
            ("REAL", "Float32"),
            ("boolean", "Bool"),
            ("BOOL", "Bool"),
            ("date", "Date"),
            ("Array(int)", "Array(Int32)"),
            ("Enum8('a', 'b')", "Enum8('a' = 1, 'b' = 2)"),
            ("Enum8('b' = 2, 'a' = 1)", "Enum8('a' = 1, 'b' = 2)"),
            ("ENUM('a' = 1, 'b' = 1000)", "Enum16('a' = 1, 'b' = 1000)"),
            ("Tuple(`a` Int32)", "Tuple(a Int32)"),
            (
                "AggregateFunction(quantiles(0.5,0.9),UInt64)",
                "AggregateFunction(quantiles(0.5, 0.9), UInt64)",
            ),
            ("INET6", "IPv6"),
        ] {
            let parsed = DataType::parse(alias).unwrap_or_else(|e| panic!("{alias}: {e}"));
            assert_eq!(parsed.to_string(), canonical, "alias {alias}");
        }
    }

    #[test]
    fn invalid_names_are_errors_naming_the_text() {
        for (text, code) in [
            ("uint8", ErrorCode::UNKNOWN_TYPE),
            ("Strin", ErrorCode::UNKNOWN_TYPE),
            ("Array(", ErrorCode::SYNTAX_ERROR),
            ("Array(UInt8", ErrorCode::SYNTAX_ERROR),
            ("Array(UInt8))", ErrorCode::SYNTAX_ERROR),
            ("UInt8 garbage", ErrorCode::SYNTAX_ERROR),
            ("FixedString(0)", ErrorCode::UNEXPECTED_AST_STRUCTURE),
            ("FixedString(x)", ErrorCode::SYNTAX_ERROR),
            ("FixedString(16777216)", ErrorCode::ARGUMENT_OUT_OF_BOUND),
            ("BINARY(4294967296)", ErrorCode::ARGUMENT_OUT_OF_BOUND),
            (
                "Nullable(Array(Int32))",
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
            ),
            (
                "Nullable(LowCardinality(String))",
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
            ),
            (
                "LowCardinality(Array(UInt8))",
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
            ),
            (
                "LowCardinality(Decimal(9, 2))",
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
            ),
            (
                "LowCardinality(Enum8('a' = 1))",
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
            ),
            (
                "LowCardinality(DateTime64(3))",
                ErrorCode::ILLEGAL_TYPE_OF_ARGUMENT,
            ),
            ("Decimal(77, 2)", ErrorCode::ARGUMENT_OUT_OF_BOUND),
            ("Decimal(9, 10)", ErrorCode::ARGUMENT_OUT_OF_BOUND),
            ("Decimal(0, 0)", ErrorCode::ARGUMENT_OUT_OF_BOUND),
            ("DateTime64(10)", ErrorCode::ARGUMENT_OUT_OF_BOUND),
            ("Enum8('a' = 200)", ErrorCode::ARGUMENT_OUT_OF_BOUND),
            ("Enum8('a' = 1, 'b' = 1)", ErrorCode::SYNTAX_ERROR),
            ("Enum8('a' = 1, 'a' = 2)", ErrorCode::SYNTAX_ERROR),
            ("Tuple(Int32, b String)", ErrorCode::BAD_ARGUMENTS),
            ("Map(Nullable(String), UInt8)", ErrorCode::BAD_ARGUMENTS),
            ("UInt8(3)", ErrorCode::DATA_TYPE_CANNOT_HAVE_ARGUMENTS),
            ("JSON", ErrorCode::NOT_IMPLEMENTED),
            ("DateTime('UTC", ErrorCode::SYNTAX_ERROR),
            ("", ErrorCode::SYNTAX_ERROR),
            ("Int32 $", ErrorCode::SYNTAX_ERROR),
        ] {
            let err = DataType::parse(text).expect_err(text);
            assert_eq!(err.code(), code, "{text}: {err}");
            if !text.is_empty() && code != ErrorCode::NOT_IMPLEMENTED {
                assert!(
                    err.to_string().contains(text),
                    "message '{err}' names '{text}'"
                );
            }
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let text = format!("{}UInt8{}", "Array(".repeat(10_000), ")".repeat(10_000));
        let err = DataType::parse(&text).unwrap_err();
        assert_eq!(err.code(), ErrorCode::TOO_DEEP_RECURSION);
    }

    #[test]
    fn old_revisions_get_datetime_without_time_zone() {
        let data_type = DataType::parse("Tuple(DateTime('UTC'), DateTime64(3, 'UTC'))").unwrap();
        assert_eq!(
            data_type.wire_name(0),
            "Tuple(DateTime, DateTime64(3, 'UTC'))"
        );
        assert_eq!(
            data_type.wire_name(54412),
            "Tuple(DateTime('UTC'), DateTime64(3, 'UTC'))"
        );
    }
}
